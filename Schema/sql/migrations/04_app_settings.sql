-- migration app_settings (guard: table app_settings absent)
CREATE TABLE IF NOT EXISTS app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    description TEXT,
    created_at INTEGER,
    updated_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now'))
);
INSERT OR IGNORE INTO app_settings (key, value, description, created_at, updated_at) VALUES
    ('device.is_discoverable', 'true', 'Whether this device can be discovered by other devices', strftime('%s', 'now'), strftime('%s', 'now')),
    ('device.allow_remote_access', 'false', 'Whether remote devices may control this device', strftime('%s', 'now'), strftime('%s', 'now'));
