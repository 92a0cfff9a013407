import BackupModel
import BackupSQLite

/// What the database at hand actually holds, read from the file itself (never assumed from Schema/).
struct DatabaseFacts {
    /// One object of `sqlite_schema`.
    struct SchemaObject {
        let type: String
        let name: String
        let table: String
        let sql: String?
    }

    let objects: [SchemaObject]

    /// Reads `sqlite_schema` of `schemaName` (`main`, or an attached database's name).
    init(connection: Connection, schemaName: String = "main") throws(SQLiteError) {
        objects = try connection.rows("SELECT type, name, tbl_name, sql FROM \"\(schemaName)\".sqlite_schema ORDER BY rowid").map {
            SchemaObject(type: $0[0].string ?? "", name: $0[1].string ?? "", table: $0[2].string ?? "", sql: $0[3].string)
        }
    }

    /// User tables (not `sqlite_*` internals), in creation order.
    var tables: [String] {
        objects.filter { $0.type == "table" && !$0.name.hasPrefix("sqlite_") }.map(\.name)
    }

    func hasTable(_ name: String) -> Bool { tables.contains(name) }

    static func columns(of table: String, in connection: Connection, schemaName: String = "main") throws(SQLiteError) -> [String] {
        try connection.rows("SELECT name FROM pragma_table_info(?, ?)", [.text(table), .text(schemaName)]).compactMap { $0[0].string }
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

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

    /// A summary of every session: name, project, job count and dates.
    static func sessionSummaries(_ connection: Connection, facts: DatabaseFacts) throws(SQLiteError) -> [Manifest.Session] {
        guard facts.hasTable("sessions") else { return [] }
        let columns = Set(try columns(of: "sessions", in: connection))
        func column(_ name: String) -> String { columns.contains(name) ? name : "NULL" }
        let jobs = facts.hasTable("background_jobs")
            ? "(SELECT count(*) FROM background_jobs j WHERE j.session_id = s.id)" : "0"
        let sql = """
            SELECT s.id, \(column("name")), \(column("project_directory")), \(jobs), \(column("created_at")), \(column("updated_at"))
            FROM sessions s ORDER BY \(columns.contains("created_at") ? Timestamp.secondsSQL("s.created_at") : "NULL"), s.id
            """
        return try connection.rows(sql).map { row in
            Manifest.Session(id: row[0].string ?? "", name: row[1].string ?? "", projectDirectory: row[2].string ?? "",
                             jobs: row[3].int64 ?? 0,
                             createdAt: row[4].int64.map { Timestamp.iso8601(seconds: Timestamp.seconds($0)) },
                             updatedAt: row[5].int64.map { Timestamp.iso8601(seconds: Timestamp.seconds($0)) })
        }
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
