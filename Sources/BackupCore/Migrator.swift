import BackupSQLite
import Foundation
import PlanToCodeSchema

/// Brings a PlanToCode database of any era to the current schema the way the app does at start-up:
/// first every table of today's schema that is missing is created, then the app's named migrations run
/// in order (Schema/sql/migrations), each guarded by the column or table whose absence makes it run and
/// recorded the way the app records them (`migration_<id>_applied` = `true` in `key_value_store`, and a
/// row in `migrations`); then columns, indexes and triggers of today's schema still missing are added.
/// Tables and columns today's schema no longer has are left as they are. Running it on a current
/// database changes nothing.
public enum Migrator {
    /// What a run did or would do, in the order it does it.
    public struct Plan: Sendable, Equatable {
        /// Tables of today's schema to create.
        public var tables: [String] = []
        /// Named migrations to apply, in order.
        public var pending: [String] = []
        /// Columns (`table.column`) of today's schema to add after the migrations.
        public var columns: [String] = []
        /// Indexes of today's schema to create.
        public var indexes: [String] = []
        /// Tables that get today's trigger because they have none.
        public var triggers: [String] = []

        public var isCurrent: Bool { steps.isEmpty }

        /// Every step, for reports: `table X`, migration ids, `column t.c`, `index i`, `trigger on t`.
        public var steps: [String] {
            tables.map { "table \($0)" } + pending + columns.map { "column \($0)" } + indexes.map { "index \($0)" }
                + triggers.map { "trigger on \($0)" }
        }
    }

    /// Today's schema (Schema/sql/current.sql), read back from an in-memory database.
    struct CurrentSchema {
        struct Column {
            let name: String
            let type: String
            let notNull: Bool
            let defaultValue: String?
        }

        let objects: [SchemaObject]
        let columns: [String: [Column]]

        static func load() throws -> CurrentSchema {
            let scratch = try Connection(path: ":memory:", mode: .readWriteCreate)
            defer { try? scratch.close() }
            try scratch.execute(try SchemaCatalog.currentSQL)
            let objects = try scratch.schemaObjects()
            var columns: [String: [Column]] = [:]
            for table in objects where table.type == "table" && !table.name.hasPrefix("sqlite_") {
                columns[table.name] = try scratch.rows("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?)", [.text(table.name)]).map {
                    Column(name: $0[0].string ?? "", type: $0[1].string ?? "", notNull: $0[2].int64 == 1, defaultValue: $0[3].string)
                }
            }
            return CurrentSchema(objects: objects, columns: columns)
        }

        var tables: [SchemaObject] { objects.filter { $0.type == "table" && !$0.name.hasPrefix("sqlite_") } }
    }

    /// What `db` still needs.
    public static func plan(_ db: Connection) throws -> Plan {
        try plan(db, schema: try CurrentSchema.load())
    }

    static func plan(_ db: Connection, schema: CurrentSchema) throws -> Plan {
        let facts = try DatabaseFacts(connection: db)
        var plan = Plan()
        plan.tables = schema.tables.map(\.name).filter { !facts.hasTable($0) }
        // Columns as they will be once the missing tables exist (in today's form).
        var present: [String: Set<String>] = [:]
        for table in facts.tables { present[table] = Set(try DatabaseFacts.columns(of: table, in: db)) }
        for table in plan.tables { present[table] = Set(schema.columns[table]?.map(\.name) ?? []) }

        var indexNames = Set(facts.objects.filter { $0.type == "index" }.map(\.name))
        for migration in SchemaCatalog.migrations {
            let runs: Bool
            switch migration.guardCondition {
            case .columnAbsent(let table, let column):
                runs = !(present[table]?.contains(column) ?? true)
            case .tableAbsent(let table):
                runs = present[table] == nil
            case .notRecorded:
                runs = try !facts.hasTable("key_value_store")
                    || db.scalar("SELECT value FROM key_value_store WHERE key = ?", [.text(marker(migration.id))]).string != "true"
            }
            guard runs else { continue }
            plan.pending.append(migration.id)
            for statement in Connection.statements(in: try SchemaCatalog.sql(for: migration)) {
                if let (table, column) = addedColumn(statement) { present[table, default: []].insert(column) }
                if let index = createdIndex(statement) { indexNames.insert(index) }
            }
        }
        for table in schema.tables.map(\.name) where facts.hasTable(table) {
            for column in schema.columns[table] ?? [] where !(present[table]?.contains(column.name) ?? false) {
                plan.columns.append("\(table).\(column.name)")
            }
        }
        for index in schema.objects where index.type == "index" && index.sql != nil && !indexNames.contains(index.name) {
            plan.indexes.append(index.name)
        }
        for table in Set(schema.objects.filter { $0.type == "trigger" }.map(\.table)).sorted()
        where !facts.objects.contains(where: { $0.type == "trigger" && $0.table == table }) {
            plan.triggers.append(table)
        }
        return plan
    }

    /// Applies what ``plan(_:)`` finds, inside the caller's transaction, with the database's own
    /// triggers set aside (they come back byte-identical) so that data steps fire none of them.
    /// Returns the steps applied (``Plan/steps``).
    /// - Throws: ``BackupError`` `dataError` when a column PlanToCode requires (NOT NULL, no default) is
    ///   missing; ``SQLiteError``. The caller rolls its transaction back.
    @discardableResult
    public static func apply(_ db: Connection, now: Date = Date()) throws -> [String] {
        let schema = try CurrentSchema.load()
        let plan = try plan(db, schema: schema)
        guard !plan.isCurrent else { return [] }
        let seconds = Int64(now.timeIntervalSince1970)
        try db.withTriggersSetAside {
            for table in plan.tables {
                for object in schema.tables where object.name == table { try db.execute(object.sql ?? "") }
            }
            // The rows today's schema puts into a table it creates (app_settings' two defaults).
            if !plan.tables.isEmpty {
                for statement in Connection.statements(in: try SchemaCatalog.currentSQL) where statement.uppercased().hasPrefix("INSERT") {
                    let words = statement.split(whereSeparator: { $0.isWhitespace }).map(String.init)
                    guard let into = words.firstIndex(where: { $0.uppercased() == "INTO" }), into + 1 < words.count,
                          plan.tables.contains(words[into + 1]) else { continue }
                    try db.execute(statement)
                }
            }
            for id in plan.pending {
                guard let migration = SchemaCatalog.migrations.first(where: { $0.id == id }) else { continue }
                try db.inSavepoint {
                    for statement in Connection.statements(in: try SchemaCatalog.sql(for: migration)) {
                        let upper = statement.uppercased()
                        // Triggers are found by table, never by name: the ones set aside come back,
                        // and a table left without one gets today's below.
                        if upper.hasPrefix("DROP TRIGGER") || upper.hasPrefix("CREATE TRIGGER") { continue }
                        if let (table, column) = addedColumn(statement),
                           try DatabaseFacts.columns(of: table, in: db).contains(column) { continue }
                        try db.execute(statement)
                    }
                    try record(id, in: db, at: seconds)
                }
            }
            for qualified in plan.columns {
                let parts = qualified.split(separator: ".", maxSplits: 1).map(String.init)
                guard let column = schema.columns[parts[0]]?.first(where: { $0.name == parts[1] }) else { continue }
                try db.execute("ALTER TABLE \(DatabaseFacts.quote(parts[0])) ADD COLUMN \(try definition(of: column, table: parts[0]))")
            }
            for index in plan.indexes where try db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", [.text(index)]).int64 == 0 {
                guard let object = schema.objects.first(where: { $0.type == "index" && $0.name == index }), let sql = object.sql else { continue }
                try db.execute(sql)
            }
        }
        for table in plan.triggers {
            for trigger in schema.objects where trigger.type == "trigger" && trigger.table == table {
                try db.execute(trigger.sql ?? "")
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
        return plan.steps
    }

    /// The `ALTER TABLE … ADD COLUMN` text for a column of today's schema. SQLite adds a NOT NULL column
    /// only with a constant default, and no column with an expression as its default.
    private static func definition(of column: CurrentSchema.Column, table: String) throws -> String {
        var text = "\(DatabaseFacts.quote(column.name)) \(column.type)"
        let constantDefault = column.defaultValue.flatMap { $0.hasPrefix("(") ? nil : $0 }
        if column.notNull {
            guard let constantDefault else {
                throw BackupError(.dataError, "the database has no \(table).\(column.name) column, which PlanToCode requires (NOT NULL): it is not a PlanToCode database, or a damaged one")
            }
            text += " NOT NULL DEFAULT \(constantDefault)"
        } else if let constantDefault {
            text += " DEFAULT \(constantDefault)"
        }
        return text
    }

    /// `(table, column)` of an `ALTER TABLE t ADD [COLUMN] c …` statement.
    static func addedColumn(_ statement: String) -> (String, String)? {
        let words = statement.split(whereSeparator: { $0.isWhitespace }).map { String($0) }
        guard words.count >= 5, words[0].uppercased() == "ALTER", words[1].uppercased() == "TABLE", words[3].uppercased() == "ADD" else { return nil }
        let column = words[4].uppercased() == "COLUMN" ? (words.count > 5 ? words[5] : "") : words[4]
        func bare(_ name: String) -> String { name.trimmingCharacters(in: CharacterSet(charactersIn: "\"`[]")) }
        return (bare(words[2]), bare(column))
    }

    /// The name of the index a `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON …` statement creates.
    static func createdIndex(_ statement: String) -> String? {
        var words = statement.split(whereSeparator: { $0.isWhitespace }).map { String($0) }[...]
        guard words.first?.uppercased() == "CREATE" else { return nil }
        words = words.dropFirst()
        if words.first?.uppercased() == "UNIQUE" { words = words.dropFirst() }
        guard words.first?.uppercased() == "INDEX" else { return nil }
        words = words.dropFirst()
        if words.prefix(3).map({ $0.uppercased() }) == ["IF", "NOT", "EXISTS"] { words = words.dropFirst(3) }
        return words.first.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"`[]")) }
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
