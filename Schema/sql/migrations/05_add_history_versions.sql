-- migration add_history_versions (guard: sessions.task_history_version absent)
ALTER TABLE sessions ADD COLUMN task_history_version INTEGER DEFAULT 1;
ALTER TABLE sessions ADD COLUMN file_history_version INTEGER DEFAULT 1;
