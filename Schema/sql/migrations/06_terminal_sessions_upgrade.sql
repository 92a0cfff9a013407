-- migration terminal_sessions_upgrade (guard: terminal_sessions.session_id absent)
-- session_id is added nullable (ALTER TABLE cannot add NOT NULL UNIQUE), backfilled with a
-- random 32-hex id, and made unique by a separate index. The updated_at trigger is dropped before
-- the backfill (so the backfill does not rewrite every row's updated_at) and created again after.
DROP TRIGGER IF EXISTS update_terminal_sessions_updated_at;
ALTER TABLE terminal_sessions ADD COLUMN session_id TEXT;
ALTER TABLE terminal_sessions ADD COLUMN started_at INTEGER;
ALTER TABLE terminal_sessions ADD COLUMN ended_at INTEGER;
ALTER TABLE terminal_sessions ADD COLUMN output_snapshot TEXT;
UPDATE terminal_sessions SET session_id = lower(hex(randomblob(16))) WHERE session_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS idx_terminal_sessions_session_id ON terminal_sessions(session_id);
CREATE TRIGGER IF NOT EXISTS update_terminal_sessions_updated_at
AFTER UPDATE ON terminal_sessions
FOR EACH ROW
BEGIN
    UPDATE terminal_sessions SET updated_at = strftime('%s', 'now') WHERE id = NEW.id;
END;
