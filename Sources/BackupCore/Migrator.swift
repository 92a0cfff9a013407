import BackupSQLite
import Foundation
import PlanToCodeSchema

/// Brings a PlanToCode database to the current schema with the app's own named migrations
/// (Schema/sql/migrations), in the app's order, each guarded by the column or table whose absence makes
/// it run, and recorded the way the app records them (`migration_<id>_applied` = `true` in
/// `key_value_store`, and a row in `migrations`). Running it on a current database changes nothing.
public enum Migrator {
    /// What a run did or would do.
    public struct Plan: Sendable, Equatable {
        /// Migration ids to apply, in order.
        public var pending: [String]
        /// Migrations that cannot apply because their table is missing, with the reason.
        public var notApplicable: [String]
        public var isCurrent: Bool { pending.isEmpty }
    }

    /// The migrations `db` still needs.
    public static func plan(_ db: Connection) throws(SQLiteError) -> Plan {
        let tables = Set(try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table'").compactMap { $0[0].string })
        var plan = Plan(pending: [], notApplicable: [])
        for migration in SchemaCatalog.migrations {
            switch migration.guardCondition {
            case .columnAbsent(let table, let column):
                guard tables.contains(table) else {
                    plan.notApplicable.append("\(migration.id): table \(table) is missing")
                    continue
                }
                let columns = try DatabaseFacts.columns(of: table, in: db)
                if !columns.contains(column) { plan.pending.append(migration.id) }
            case .tableAbsent(let table):
                if !tables.contains(table) { plan.pending.append(migration.id) }
            case .notRecorded:
                var recorded = false
                if tables.contains("key_value_store") {
                    recorded = try db.scalar("SELECT value FROM key_value_store WHERE key = ?", [.text(marker(migration.id))]).string == "true"
                }
                if !recorded { plan.pending.append(migration.id) }
            }
        }
        return plan
    }

    /// Applies what ``plan(_:)`` finds pending, inside the caller's transaction (one savepoint per
    /// migration), and records each one. Returns the ids applied.
    /// - Throws: ``SQLiteError``; the caller rolls its transaction back.
    @discardableResult
    public static func apply(_ db: Connection, now: Date = Date()) throws -> [String] {
        let pending = try plan(db).pending
        guard !pending.isEmpty else { return [] }
        let seconds = Int64(now.timeIntervalSince1970)
        try db.execute("CREATE TABLE IF NOT EXISTS key_value_store (key TEXT PRIMARY KEY, value TEXT, updated_at INTEGER NOT NULL)")
        for id in pending {
            guard let migration = SchemaCatalog.migrations.first(where: { $0.id == id }) else { continue }
            try db.execute("SAVEPOINT ptc_migration")
            do {
                try db.execute(try SchemaCatalog.sql(for: migration))
                try record(id, in: db, at: seconds)
                try db.execute("RELEASE ptc_migration")
            } catch {
                try? db.execute("ROLLBACK TO ptc_migration")
                try? db.execute("RELEASE ptc_migration")
                throw error
            }
        }
        // The version markers move up to the current ones, never down: a database of a newer app that
        // merely lacked a marker keeps its own.
        let recorded = try db.scalar("SELECT value FROM key_value_store WHERE key = 'app_version'").string
        if Self.isOlder(recorded, than: SchemaCatalog.current.appVersion) {
            for (key, value) in [("schema_version", SchemaCatalog.current.schemaVersion), ("app_version", SchemaCatalog.current.appVersion)] {
                try db.execute("""
                    INSERT INTO key_value_store (key, value, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                    """, [.text(key), .text(value), .integer(seconds)])
            }
        }
        return pending
    }

    static func marker(_ id: String) -> String { "migration_\(id)_applied" }

    /// Whether semantic version `version` (e.g. "1.0.10") is older than `other`; a missing or unreadable
    /// version counts as older.
    static func isOlder(_ version: String?, than other: String) -> Bool {
        func parts(_ text: String) -> [Int]? {
            let numbers = text.split(separator: "-").first?.split(separator: ".").map { Int($0) } ?? []
            guard !numbers.isEmpty, numbers.allSatisfy({ $0 != nil }) else { return nil }
            return numbers.map { $0! }
        }
        guard let version, let mine = parts(version), let theirs = parts(other) else { return true }
        for i in 0..<max(mine.count, theirs.count) {
            let a = i < mine.count ? mine[i] : 0, b = i < theirs.count ? theirs[i] : 0
            if a != b { return a < b }
        }
        return false
    }

    private static func record(_ id: String, in db: Connection, at seconds: Int64) throws(SQLiteError) {
        try db.execute("""
            INSERT INTO key_value_store (key, value, updated_at) VALUES (?, 'true', ?)
            ON CONFLICT(key) DO UPDATE SET value = 'true', updated_at = excluded.updated_at
            """, [.text(marker(id)), .integer(seconds)])
        if (try db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'migrations'").int64 ?? 0) > 0 {
            try db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", [.text(id), .integer(seconds)])
        }
    }
}
