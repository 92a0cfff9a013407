-- PlanToCode database schema, current app version (1.2.11), as a fresh install creates it.
-- Written from ../shared/SPEC.md. Unix timestamps are INTEGER; column defaults write seconds,
-- the app's own code often writes milliseconds.

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_directory TEXT NOT NULL,
    project_hash TEXT NOT NULL,
    task_description TEXT,
    search_term TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    model_used TEXT,
    search_selected_files_only INTEGER DEFAULT 0 CHECK (search_selected_files_only IN (0, 1)),
    included_files TEXT,
    force_excluded_files TEXT,
    video_analysis_prompt TEXT,
    merge_instructions TEXT,
    task_history_version INTEGER DEFAULT 1,
    file_history_version INTEGER DEFAULT 1,
    task_history_current_index INTEGER DEFAULT 0,
    file_history_current_index INTEGER DEFAULT 0
);

CREATE INDEX IF NOT EXISTS idx_sessions_project_hash ON sessions(project_hash);
CREATE INDEX IF NOT EXISTS idx_sessions_updated_at ON sessions(updated_at);

CREATE TABLE IF NOT EXISTS background_jobs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    task_type TEXT NOT NULL DEFAULT 'unknown',
    status TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('idle', 'running', 'completed', 'failed', 'canceled',
        'preparing', 'created', 'queued', 'acknowledged_by_worker', 'preparing_input', 'generating_stream',
        'processing_stream', 'completed_by_tag')),
    prompt TEXT NOT NULL,
    response TEXT,
    error_message TEXT,
    tokens_sent INTEGER DEFAULT 0,
    tokens_received INTEGER DEFAULT 0,
    cache_write_tokens INTEGER DEFAULT 0,
    cache_read_tokens INTEGER DEFAULT 0,
    model_used TEXT,
    actual_cost REAL,
    metadata TEXT,
    system_prompt_template TEXT,
    created_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    updated_at INTEGER DEFAULT (strftime('%s', 'now')),
    start_time INTEGER,
    end_time INTEGER,
    is_finalized INTEGER DEFAULT 0,
    server_request_id TEXT,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_background_jobs_session_id ON background_jobs(session_id);
CREATE INDEX IF NOT EXISTS idx_background_jobs_status ON background_jobs(status);
CREATE INDEX IF NOT EXISTS idx_background_jobs_created_at ON background_jobs(created_at);
CREATE INDEX IF NOT EXISTS idx_background_jobs_active ON background_jobs(session_id, updated_at)
    WHERE status IN ('running', 'preparing', 'queued', 'acknowledged_by_worker', 'preparing_input',
                     'generating_stream', 'processing_stream');
CREATE INDEX IF NOT EXISTS idx_background_jobs_workflow_id ON background_jobs(json_extract(metadata, '$.workflowId'))
    WHERE json_extract(metadata, '$.workflowId') IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_background_jobs_workflow_stage ON background_jobs(
    json_extract(metadata, '$.workflowId'), json_extract(metadata, '$.stageName'));

CREATE TABLE IF NOT EXISTS terminal_sessions (
    id TEXT PRIMARY KEY,
    job_id TEXT UNIQUE,
    session_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'initializing' CHECK (status IN ('idle', 'starting', 'initializing', 'running',
        'completed', 'failed', 'agent_requires_attention', 'recovering', 'disconnected', 'stuck', 'restored')),
    process_pid INTEGER,
    created_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    updated_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    started_at INTEGER,
    ended_at INTEGER,
    last_output_at INTEGER,
    exit_code INTEGER,
    working_directory TEXT,
    environment_vars TEXT,
    title TEXT,
    output_log TEXT NOT NULL DEFAULT '',
    output_snapshot TEXT,
    FOREIGN KEY (job_id) REFERENCES background_jobs(id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_terminal_sessions_status ON terminal_sessions(status);
CREATE INDEX IF NOT EXISTS idx_terminal_sessions_last_output ON terminal_sessions(last_output_at)
    WHERE status IN ('running', 'agent_requires_attention');
CREATE INDEX IF NOT EXISTS idx_terminal_sessions_output_size ON terminal_sessions(LENGTH(output_log));

CREATE TRIGGER IF NOT EXISTS trg_terminal_sessions_updated_at
AFTER UPDATE ON terminal_sessions
FOR EACH ROW
BEGIN
    UPDATE terminal_sessions SET updated_at = strftime('%s', 'now') WHERE id = NEW.id;
END;

CREATE TABLE IF NOT EXISTS task_description_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    device_id TEXT,
    sequence_number INTEGER DEFAULT 0,
    version INTEGER DEFAULT 1,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_task_description_history_session_created ON task_description_history(session_id, created_at);
CREATE INDEX IF NOT EXISTS idx_task_description_history_session_seq ON task_description_history(session_id, sequence_number);

CREATE TABLE IF NOT EXISTS file_selection_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    included_files TEXT NOT NULL,
    force_excluded_files TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    device_id TEXT,
    sequence_number INTEGER DEFAULT 0,
    version INTEGER DEFAULT 1,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_file_selection_history_session_created ON file_selection_history(session_id, created_at);
CREATE INDEX IF NOT EXISTS idx_file_selection_history_session_seq ON file_selection_history(session_id, sequence_number);

CREATE TABLE IF NOT EXISTS project_system_prompts (
    project_hash TEXT NOT NULL,
    task_type TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    is_custom INTEGER DEFAULT 1,
    created_at INTEGER,
    updated_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    PRIMARY KEY (project_hash, task_type)
);

CREATE TABLE IF NOT EXISTS key_value_store (
    key TEXT PRIMARY KEY,
    value TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    description TEXT,
    created_at INTEGER,
    updated_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now'))
);

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

CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now'))
);

CREATE TABLE IF NOT EXISTS db_diagnostic_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    additional_info TEXT
);

INSERT OR IGNORE INTO app_settings (key, value, description, created_at, updated_at) VALUES
    ('device.is_discoverable', 'true', 'Whether this device can be discovered by other devices', strftime('%s', 'now'), strftime('%s', 'now')),
    ('device.allow_remote_access', 'false', 'Whether remote devices may control this device', strftime('%s', 'now'), strftime('%s', 'now'));
