import BackupModel
import BackupSQLite
import Foundation

/// What the database at hand actually holds, read from the file itself (never assumed from Schema/).
struct DatabaseFacts {
    let objects: [SchemaObject]

    /// Reads `sqlite_schema` of `schemaName` (`main`, or an attached database's name).
    init(connection: Connection, schemaName: String = "main") throws(SQLiteError) {
        objects = try connection.schemaObjects(schemaName: schemaName)
    }

    /// User tables (not `sqlite_*` internals), in creation order.
    var tables: [String] {
        objects.filter { $0.type == "table" && !$0.name.hasPrefix("sqlite_") }.map(\.name)
    }

    func hasTable(_ name: String) -> Bool { tables.contains(name) }

    static func columns(of table: String, in connection: Connection, schemaName: String = "main") throws(SQLiteError) -> [String] {
        try connection.rows("SELECT name FROM pragma_table_info(?, ?)", [.text(table), .text(schemaName)]).compactMap { $0[0].string }
    }

    static func quote(_ identifier: String) -> String { Connection.quoteIdentifier(identifier) }

    /// Row counts per user table.
    static func rowCounts(_ connection: Connection, tables: [String]) throws(SQLiteError) -> [Manifest.Table] {
        var result: [Manifest.Table] = []
        for table in tables {
            let count = try connection.scalar("SELECT count(*) FROM \(quote(table))").int64 ?? 0
            result.append(Manifest.Table(name: table, rows: count))
        }
        return result
    }

    /// `app_version` and `schema_version` from `key_value_store`, when the table has them.
    static func versionMarkers(_ connection: Connection, facts: DatabaseFacts) throws(SQLiteError) -> (app: String?, schema: String?) {
        guard facts.hasTable("key_value_store") else { return (nil, nil) }
        let app = try connection.scalar("SELECT value FROM key_value_store WHERE key = 'app_version'").string
        let schema = try connection.scalar("SELECT value FROM key_value_store WHERE key = 'schema_version'").string
        return (app, schema)
    }

    /// Whether this SQLite measures text without reading it: `octet_length` (3.43) takes a value's size from
    /// its record header, where `length` reads every overflow page of it.
    static let measuresTextCheaply = Connection.libraryVersion.compare("3.43.0", options: .numeric) != .orderedAscending

    /// A summary of every session: name, project, dates, its jobs and their terminals, its size in bytes
    /// (the text of its row, its jobs and their terminals) and its task description, oldest first.
    /// - Parameters:
    ///   - descriptionLimit: characters of the task description to keep (nil: all of it).
    ///   - measuringBytes: fill in `bytes`. Before SQLite 3.43 this reads all the text of the sessions' jobs
    ///     and terminals (about 0.4 s per 300 MB here), so an export's manifest measures only where it is
    ///     cheap (``measuresTextCheaply``); `sessions` on a live database always does.
    static func sessionSummaries(_ connection: Connection, facts: DatabaseFacts,
                                 descriptionLimit: Int? = Manifest.Session.descriptionLimit,
                                 measuringBytes: Bool = measuresTextCheaply) throws(SQLiteError) -> [Manifest.Session] {
        guard facts.hasTable("sessions") else { return [] }
        let columns = Set(try columns(of: "sessions", in: connection))
        func column(_ name: String) -> String { columns.contains(name) ? "s.\(name)" : "NULL" }
        let length = measuresTextCheaply ? "octet_length" : "length"
        func bytes(_ alias: String, _ table: String, _ wanted: [String], in present: Set<String>) -> String {
            let parts = wanted.filter(present.contains).map { "coalesce(\(length)(\(alias).\($0)), 0)" }
            return parts.isEmpty ? "0" : parts.joined(separator: " + ")
        }
        let jobColumns = facts.hasTable("background_jobs") ? Set(try Self.columns(of: "background_jobs", in: connection)) : []
        let terminalColumns = facts.hasTable("terminal_sessions") ? Set(try Self.columns(of: "terminal_sessions", in: connection)) : []
        let hasJobs = jobColumns.contains("session_id")
        let hasTerminals = hasJobs && terminalColumns.contains("job_id")
        let jobs = hasJobs ? "(SELECT count(*) FROM background_jobs j WHERE j.session_id = s.id)" : "0"
        let terminals = hasTerminals
            ? "(SELECT count(*) FROM terminal_sessions t JOIN background_jobs j ON t.job_id = j.id WHERE j.session_id = s.id)" : "0"
        let ownBytes = bytes("s", "sessions", ["name", "task_description", "included_files", "force_excluded_files",
                                               "merge_instructions", "video_analysis_prompt"], in: columns)
        let jobBytes = hasJobs ? "coalesce((SELECT sum(\(bytes("j", "background_jobs", ["prompt", "response", "metadata", "system_prompt_template", "error_message"], in: jobColumns))) FROM background_jobs j WHERE j.session_id = s.id), 0)" : "0"
        let terminalBytes = hasTerminals ? "coalesce((SELECT sum(\(bytes("t", "terminal_sessions", ["output_log", "output_snapshot", "environment_vars"], in: terminalColumns))) FROM terminal_sessions t JOIN background_jobs j ON t.job_id = j.id WHERE j.session_id = s.id), 0)" : "0"
        let sql = """
            SELECT s.id, \(column("name")), \(column("project_directory")), \(jobs), \(column("created_at")), \(column("updated_at")),
                   \(terminals), \(measuringBytes ? "\(ownBytes) + \(jobBytes) + \(terminalBytes)" : "NULL"), \(column("task_description"))
            FROM sessions s ORDER BY \(columns.contains("created_at") ? Timestamp.secondsSQL("s.created_at") : "NULL"), s.id
            """
        return try connection.rows(sql).map { row in
            var description = row[8].string
            if let limit = descriptionLimit, let text = description, text.count > limit { description = String(text.prefix(limit)) }
            return Manifest.Session(id: row[0].string ?? "", name: row[1].string ?? "", projectDirectory: row[2].string ?? "",
                                    jobs: row[3].int64 ?? 0,
                                    createdAt: row[4].int64.map { Timestamp.iso8601(seconds: Timestamp.seconds($0)) },
                                    updatedAt: row[5].int64.map { Timestamp.iso8601(seconds: Timestamp.seconds($0)) },
                                    terminals: row[6].int64 ?? 0, bytes: row[7].int64, taskDescription: description)
        }
    }

    /// `PRAGMA foreign_key_check` of `schemaName`, counted per table and parent, in a stable order.
    static func foreignKeyViolations(_ connection: Connection, schemaName: String = "main") throws(SQLiteError) -> [Manifest.ForeignKeyViolations] {
        var counts: [String: Manifest.ForeignKeyViolations] = [:]
        for row in try connection.rows("PRAGMA \(quote(schemaName)).foreign_key_check") {
            let table = row[0].string ?? "", parent = row[2].string ?? ""
            counts["\(table)\u{0}\(parent)", default: .init(table: table, parent: parent, rows: 0)].rows += 1
        }
        return counts.values.sorted { ($0.table, $0.parent) < ($1.table, $1.parent) }
    }

    /// One line per row of `schemaName` that breaks a foreign key: `table key: column value has no parent row`.
    static func orphanRows(_ connection: Connection, schemaName: String = "main") throws(SQLiteError) -> [String] {
        let s = quote(schemaName)
        var lines: [String] = []
        var keyColumns: [String: [String]] = [:]
        for row in try connection.rows("PRAGMA \(s).foreign_key_check") {
            let table = row[0].string ?? "", parent = row[2].string ?? "", fkid = row[3].int64 ?? 0
            let rowid = row[1]
            if keyColumns[table] == nil {
                keyColumns[table] = try connection.rows("SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk", [.text(table), .text(schemaName)])
                    .compactMap { $0[0].string }
            }
            let from = try connection.rows("SELECT \"from\" FROM pragma_foreign_key_list(?, ?) WHERE id = ?", [.text(table), .text(schemaName), .integer(fkid)])
                .compactMap { $0[0].string }
            let keys = keyColumns[table] ?? []
            let keyText = keys.isEmpty ? "rowid \(rowid)" : try connection.scalar(
                "SELECT \(keys.map { quote($0) }.joined(separator: " || '/' || ")) FROM \(s).\(quote(table)) WHERE rowid = ?", [rowid]).description
            let values = from.isEmpty ? "" : try connection.scalar(
                "SELECT \(from.map { quote($0) }.joined(separator: " || '/' || ")) FROM \(s).\(quote(table)) WHERE rowid = ?", [rowid]).description
            lines.append("\(table) \(keyText): \(from.joined(separator: ", ")) \(values) has no row in \(parent)")
        }
        return lines
    }

    /// `PRAGMA quick_check` of the file at `path` on a connection of its own; `["ok"]` when sound.
    /// - Throws: ``BackupError`` when the file cannot be read, saying it was `doing` that.
    static func quickCheck(_ path: String, busyTimeout: Int32 = 5000, doing: String) throws -> [String] {
        do {
            let db = try Connection(path: path, mode: .readOnly, busyTimeout: busyTimeout)
            let results = try db.rows("PRAGMA quick_check").compactMap { $0.first?.string }
            try db.close()
            return results
        } catch {
            throw BackupError.sqlite(error, doing, path: path)
        }
    }
}
