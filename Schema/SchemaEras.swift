import BackupSQLite

extension SchemaCatalog {
    /// The table set of a database created by one range of the app's consolidated schemas (SPEC.md,
    /// "Schema eras": 28 versions, 13 distinct sets). Every era has sessions, background_jobs and
    /// key_value_store; ``tables`` lists the others.
    public struct Era: Sendable, Hashable, CustomStringConvertible {
        /// The date of the first version of the era, e.g. `2025-05-14`.
        public let created: String
        /// The app version recorded in `key_value_store` by databases of the era.
        public let appVersion: String
        /// Tables besides sessions, background_jobs and key_value_store, in creation order.
        public let tables: [String]
        /// Which sessions table the era creates.
        public let sessionsForm: SessionsForm

        public enum SessionsForm: String, Sendable {
            /// With the regex filter columns dropped since, and none of the later columns.
            case regex
            /// The 1.0.0 form: no regex columns, none of the migrations' columns.
            case early
            /// Today's.
            case current
        }

        /// The `schema_version` marker the era's databases carry.
        public var schemaVersion: String { "\(created)-consolidated" }

        public var description: String { "era \(created)" }

        /// Whether the era is today's table set (created from `current.sql` as it stands).
        public var isCurrent: Bool { sessionsForm == .current }
    }

    /// The name the app's own consolidated schema gives the terminal_sessions trigger; older
    /// databases (and the terminal_sessions_upgrade migration) call it `update_terminal_sessions_updated_at`.
    public static let appTriggerName = "trg_terminal_sessions_updated_at"

    /// The 13 eras, oldest first, from SPEC.md's table (each row's additions and removals).
    public static let eras: [Era] = {
        let steps: [(String, [String], [String])] = [
            ("2025-05-14", ["included_files", "excluded_files", "task_settings"], []),
            ("2025-05-18", ["cached_state", "meta", "migrations", "db_diagnostic_logs"], []),
            ("2025-05-30", ["system_prompts", "default_system_prompts", "application_configurations"], ["meta"]),
            ("2025-06-08", ["user_credits", "credit_transactions"], ["default_system_prompts"]),
            ("2025-06-12", [], ["application_configurations"]),
            ("2025-06-13", [], ["system_prompts"]),
            ("2025-06-18", ["task_description_history"], []),
            ("2025-06-22", ["project_system_prompts"], ["cached_state", "user_credits", "credit_transactions"]),
            ("2025-06-24", [], ["task_settings"]),
            ("2025-07-14", ["file_selection_history"], ["included_files", "excluded_files"]),
            ("2025-08-11", ["error_logs"], []),
            ("2025-08-30", ["terminal_sessions"], []),
            ("2025-10-06", ["app_settings"], []),
        ]
        var tables: [String] = []
        var eras: [Era] = []
        for (index, (date, added, removed)) in steps.enumerated() {
            tables = tables.filter { !removed.contains($0) } + added
            let form: Era.SessionsForm = index == steps.count - 1 ? .current : date <= "2025-06-22" ? .regex : .early
            let version = index == steps.count - 1 ? current.appVersion : index == 0 ? "1.1.9" : "1.2.\(index - 1)"
            eras.append(Era(created: date, appVersion: version, tables: tables, sessionsForm: form))
        }
        return eras
    }()

    /// Tables of early eras that today's schema no longer has.
    public static var droppedTablesSQL: String { get throws { try sql("eras/dropped-tables") } }

    /// The SQL that creates a database of `era`: each table with its indexes and triggers, taken from
    /// today's schema for the current era, else from the oldest definition this project knows (the 1.0.0
    /// schema, the dropped tables, the May–June sessions table), with the terminal_sessions trigger
    /// under the app's name.
    public static func sql(for era: Era) throws -> String {
        let current = try Connection.schemaObjects(createdBy: try currentSQL)
        if era.isCurrent { return try currentSQL }
        let base = try Connection.schemaObjects(createdBy: try baseSQL)
        let dropped = try Connection.schemaObjects(createdBy: try droppedTablesSQL)
        let regexSessions = try Connection.schemaObjects(createdBy: try sql("eras/sessions-regex"))
        var statements: [String] = []
        for table in ["sessions", "background_jobs", "key_value_store"] + era.tables {
            let source: [SchemaObject]
            if table == "sessions" && era.sessionsForm == .regex {
                source = regexSessions
            } else if base.contains(where: { $0.type == "table" && $0.name == table }) {
                source = base
            } else if dropped.contains(where: { $0.type == "table" && $0.name == table }) {
                source = dropped
            } else {
                source = current
            }
            for object in source where object.table == table {
                guard var text = object.sql else { continue }
                if object.type == "trigger" && table == "terminal_sessions" {
                    text = text.replacingOccurrences(of: object.name, with: appTriggerName)
                }
                statements.append(text + ";")
            }
        }
        return statements.joined(separator: "\n")
    }

    /// Every trigger and view this project knows from the app's schema history (the 1.0.0 schema, each
    /// migration, today's schema, the eras), as ``normalized(_:)`` text. A restore installs no other.
    public static var knownTriggersAndViews: Set<String> {
        get throws {
            var sources = [try baseSQL, try currentSQL, try droppedTablesSQL]
            sources += try eras.map { try sql(for: $0) }
            var known: Set<String> = []
            for source in sources {
                for object in try Connection.schemaObjects(createdBy: source) where object.type == "trigger" || object.type == "view" {
                    if let text = object.sql { known.insert(normalized(text)) }
                }
            }
            for migration in migrations {
                for statement in Connection.statements(in: try sql(for: migration)) where statement.uppercased().hasPrefix("CREATE TRIGGER") {
                    let scratch = try Connection.schemaObjects(createdBy: try baseSQL + "\n" + statement)
                    for object in scratch where object.type == "trigger" { if let text = object.sql { known.insert(normalized(text)) } }
                }
            }
            return known
        }
    }

    /// Every column each table has had in the schema history this project knows (the 1.0.0 schema, the
    /// May–June sessions table, the dropped tables, today's schema). A merge leaves out, and names, archive
    /// columns the target lacks only when they are among these (older app versions); others mean a newer app.
    public static var historicalColumns: [String: Set<String>] {
        get throws {
            var result: [String: Set<String>] = [:]
            for source in [try baseSQL, try currentSQL, try droppedTablesSQL, try sql("eras/sessions-regex")] {
                let scratch = try Connection(path: ":memory:", mode: .readWriteCreate)
                try scratch.execute(source)
                for table in try scratch.schemaObjects() where table.type == "table" {
                    let columns = try scratch.rows("SELECT name FROM pragma_table_info(?)", [.text(table.name)]).compactMap { $0[0].string }
                    result[table.name, default: []].formUnion(columns)
                }
                try scratch.close()
            }
            return result
        }
    }

    /// `CREATE` text compared without regard to case or layout: whitespace runs become one space, and
    /// letters are lower-cased. Two statements with the same normalised text define the same object.
    public static func normalized(_ sql: String) -> String {
        sql.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
