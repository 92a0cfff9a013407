-- migration add_merge_instructions (guard: sessions.merge_instructions absent)
ALTER TABLE sessions ADD COLUMN merge_instructions TEXT;
