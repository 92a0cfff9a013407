import BackupModel
import BackupSQLite
import Foundation

/// `--redact-env`: in a snapshot (never the live database), the values of secret-looking variables in
/// `terminal_sessions.environment_vars` (a JSON object, SPEC.md) become `"<redacted>"`.
enum EnvironmentRedaction {
    /// Name parts that mark a variable as secret (case-insensitive).
    static let patterns = ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"]
    static let replacement = "<redacted>"

    /// How many variables with secret-looking names `db`'s `terminal_sessions.environment_vars` hold with
    /// their values (not `"<redacted>"`); SQLite's JSON functions read them, so no value reaches us.
    static func countSecrets(_ db: Connection) throws(SQLiteError) -> Int {
        guard try db.rows("SELECT 1 FROM pragma_table_info('terminal_sessions') WHERE name = 'environment_vars'").count > 0 else { return 0 }
        let names = patterns.map { "upper(v.key) LIKE '%\($0)%'" }.joined(separator: " OR ")
        let object = """
            CASE WHEN json_valid(t.environment_vars) THEN CASE WHEN json_type(t.environment_vars) = 'object'
            THEN t.environment_vars ELSE '{}' END ELSE '{}' END
            """
        return Int(try db.scalar("""
            SELECT count(*) FROM terminal_sessions t, json_each(\(object)) v
            WHERE t.environment_vars IS NOT NULL AND (\(names)) AND v.value IS NOT '\(replacement)'
            """).int64 ?? 0)
    }

    static func isSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return patterns.contains { upper.contains($0) }
    }

    /// The value with secret variables replaced, and how many were; a value that is not a JSON object
    /// is replaced whole (it may hold anything). Nil when nothing changes.
    static func redact(_ json: String) -> (String, Int)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty || trimmed == "null" || trimmed == "{}" ? nil : (replacement, 1)
        }
        var changed = 0
        var result = object
        for (name, value) in object where isSecret(name) && (value as? String) != replacement {
            result[name] = replacement
            changed += 1
        }
        guard changed > 0, let data = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]) else { return nil }
        return (String(decoding: data, as: UTF8.self), changed)
    }

    /// Redacts the snapshot at `path` in place. Deleted bytes are overwritten (`secure_delete`) and the
    /// journal stays in memory, so the old values are nowhere in the file afterwards.
    static func apply(toSnapshot path: String) throws -> Manifest.EnvironmentRedaction {
        do {
            let db = try Connection(path: path, mode: .readWrite)
            defer { try? db.close() }
            let hasColumn = try db.rows("SELECT 1 FROM pragma_table_info('terminal_sessions') WHERE name = 'environment_vars'").count > 0
            var rows = 0, variables = 0
            if hasColumn {
                try db.execute("PRAGMA secure_delete = ON; PRAGMA journal_mode = MEMORY")
                try db.inTransaction(.immediate) {
                    let values = try db.rows("SELECT rowid, environment_vars FROM terminal_sessions WHERE environment_vars IS NOT NULL")
                    for row in values {
                        guard case .text(let json) = row[1], let (redacted, count) = redact(json) else { continue }
                        try db.execute("UPDATE terminal_sessions SET environment_vars = ? WHERE rowid = ?", [.text(redacted), row[0]])
                        rows += 1
                        variables += count
                    }
                    return .commit
                }
                try db.execute("VACUUM")
            }
            return Manifest.EnvironmentRedaction(patterns: patterns.map { "*\($0)*" }, rows: rows, variables: variables)
        } catch {
            throw BackupError.sqlite(error, "redacting environment variables in the snapshot", path: path)
        }
    }
}
