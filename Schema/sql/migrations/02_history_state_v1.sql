-- migration history_state_v1 (guard: sessions.task_history_current_index absent)
ALTER TABLE sessions ADD COLUMN task_history_current_index INTEGER DEFAULT 0;
ALTER TABLE sessions ADD COLUMN file_history_current_index INTEGER DEFAULT 0;
ALTER TABLE task_description_history ADD COLUMN device_id TEXT;
ALTER TABLE task_description_history ADD COLUMN sequence_number INTEGER DEFAULT 0;
ALTER TABLE task_description_history ADD COLUMN version INTEGER DEFAULT 1;
ALTER TABLE file_selection_history ADD COLUMN device_id TEXT;
ALTER TABLE file_selection_history ADD COLUMN sequence_number INTEGER DEFAULT 0;
ALTER TABLE file_selection_history ADD COLUMN version INTEGER DEFAULT 1;
CREATE INDEX IF NOT EXISTS idx_task_description_history_session_created ON task_description_history(session_id, created_at);
CREATE INDEX IF NOT EXISTS idx_task_description_history_session_seq ON task_description_history(session_id, sequence_number);
CREATE INDEX IF NOT EXISTS idx_file_selection_history_session_created ON file_selection_history(session_id, created_at);
CREATE INDEX IF NOT EXISTS idx_file_selection_history_session_seq ON file_selection_history(session_id, sequence_number);
