import Foundation

/// The project's own SQL and JSON Schema files (this folder), handed out as strings.
public enum SchemaCatalog {
    /// One named migration of the app's schema history.
    public struct Migration: Sendable {
        /// The app's migration id, recorded as `migration_<id>_applied`.
        public let id: String
        /// The resource file under `sql/migrations/`.
        public let file: String
        /// What makes the migration run: a column or a table that is absent.
        public let guardCondition: Guard
    }

    public enum Guard: Sendable {
        case columnAbsent(table: String, column: String)
        case tableAbsent(String)
        /// Runs once, remembered by its `migration_<id>_applied` marker.
        case notRecorded
    }

    /// An app version this project knows how to produce and read.
    public struct AppVersion: Sendable, Hashable {
        public let appVersion: String
        public let schemaVersion: String
        /// The migrations applied on top of the base schema (`v1.0.0.sql`), or nil for a fresh
        /// current-schema install (`current.sql`, every migration recorded as applied).
        public let migrationCount: Int?
    }

    public static let migrations: [Migration] = [
        Migration(id: "add_merge_instructions", file: "01_add_merge_instructions",
                  guardCondition: .columnAbsent(table: "sessions", column: "merge_instructions")),
        Migration(id: "history_state_v1", file: "02_history_state_v1",
                  guardCondition: .columnAbsent(table: "sessions", column: "task_history_current_index")),
        Migration(id: "add_error_logs", file: "03_add_error_logs", guardCondition: .tableAbsent("error_logs")),
        Migration(id: "app_settings", file: "04_app_settings", guardCondition: .tableAbsent("app_settings")),
        Migration(id: "add_history_versions", file: "05_add_history_versions",
                  guardCondition: .columnAbsent(table: "sessions", column: "task_history_version")),
        Migration(id: "terminal_sessions_upgrade", file: "06_terminal_sessions_upgrade",
                  guardCondition: .columnAbsent(table: "terminal_sessions", column: "session_id")),
        Migration(id: "normalize_history_device_ids", file: "07_normalize_history_device_ids",
                  guardCondition: .notRecorded),
    ]

    public static let v1_0_0 = AppVersion(appVersion: "1.0.0", schemaVersion: "2024-11-18-initial", migrationCount: 0)
    public static let v1_0_10 = AppVersion(appVersion: "1.0.10", schemaVersion: "2025-01-08-history-state-v1", migrationCount: 4)
    public static let current = AppVersion(appVersion: "1.2.11", schemaVersion: "2025-02-05-terminal-sessions-persistence-v2", migrationCount: nil)
    /// A 1.0.0 database the current app has upgraded: old table definitions, every migration applied.
    public static let upgradedFrom1_0_0 = AppVersion(appVersion: "1.2.11", schemaVersion: "2025-02-05-terminal-sessions-persistence-v2",
                                                     migrationCount: migrations.count)
    public static let knownVersions = [v1_0_0, v1_0_10, current]

    /// The SQL that creates the current schema.
    public static var currentSQL: String { get throws { try sql("current") } }
    /// The SQL that creates the 1.0.0 schema.
    public static var baseSQL: String { get throws { try sql("v1.0.0") } }

    public static func sql(for migration: Migration) throws -> String {
        try sql("migrations/\(migration.file)")
    }

    /// The JSON Schema of `manifest.json`.
    public static var manifestJSONSchema: String { get throws { try resource("json/manifest.v1.json") } }

    static func sql(_ name: String) throws -> String { try resource("sql/\(name).sql") }

    static func resource(_ relativePath: String) throws -> String {
        guard let base = Bundle.module.resourceURL else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: relativePath])
        }
        return try String(contentsOf: base.appendingPathComponent(relativePath), encoding: .utf8)
    }
}
