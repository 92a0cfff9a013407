-- The sessions table of the consolidated schemas of May and June 2025: the regex filter columns the
-- app dropped later, and none of the columns later migrations add (merge_instructions, the history
-- indexes and versions). This project's reading of SPEC.md, "Schema eras".

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_directory TEXT NOT NULL,
    project_hash TEXT NOT NULL,
    task_description TEXT,
    search_term TEXT,
    title_regex TEXT,
    content_regex TEXT,
    negative_title_regex TEXT,
    negative_content_regex TEXT,
    is_regex_active INTEGER DEFAULT 1 CHECK (is_regex_active IN (0, 1)),
    codebase_structure TEXT,
    title_regex_description TEXT,
    content_regex_description TEXT,
    negative_title_regex_description TEXT,
    negative_content_regex_description TEXT,
    regex_summary_explanation TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    model_used TEXT,
    search_selected_files_only INTEGER DEFAULT 0 CHECK (search_selected_files_only IN (0, 1)),
    included_files TEXT,
    force_excluded_files TEXT
);

CREATE INDEX IF NOT EXISTS idx_sessions_project_hash ON sessions(project_hash);
CREATE INDEX IF NOT EXISTS idx_sessions_updated_at ON sessions(updated_at);
