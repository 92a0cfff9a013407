-- migration add_error_logs (guard: table error_logs absent)
CREATE TABLE IF NOT EXISTS error_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    level TEXT NOT NULL DEFAULT 'ERROR' CHECK (level IN ('ERROR', 'WARN', 'INFO', 'DEBUG')),
    error_type TEXT,
    message TEXT NOT NULL,
    context TEXT,
    stack TEXT,
    metadata TEXT,
    app_version TEXT,
    platform TEXT
);
CREATE INDEX IF NOT EXISTS idx_error_logs_timestamp ON error_logs(timestamp);
