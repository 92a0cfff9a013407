import BackupModel
import BackupSQLite
import Foundation

/// Which sessions a partial export takes.
///
/// `--session` and `--project` add sessions (a union); `--older-than` then keeps only sessions with
/// something older than the cut-off: the session's own `updated_at`, or the `created_at` of any of its
/// background jobs, seconds and milliseconds both understood. A selected session always comes with all
/// of its jobs, so everything the app's retention cleanup may delete from it is in the archive.
public struct SessionSelection: Sendable, Equatable {
    public var sessionIDs: [String]
    public var projects: [String]
    public var olderThan: Age?

    public init(sessionIDs: [String] = [], projects: [String] = [], olderThan: Age? = nil) {
        self.sessionIDs = sessionIDs
        self.projects = projects
        self.olderThan = olderThan
    }

    public var isEverything: Bool { sessionIDs.isEmpty && projects.isEmpty && olderThan == nil }

    /// The cut-off in Unix seconds, for `olderThan`.
    public func cutoff(now: Date) -> Int64? {
        olderThan.map { Int64(now.timeIntervalSince1970) - $0.seconds }
    }

    /// Fills `temp.ptc_selected(id)` with the matching session ids, reading `schemaName`.
    /// Returns how many matched.
    /// - Throws: ``BackupError`` `noInput` naming the session ids that do not exist.
    func resolve(in db: Connection, schemaName: String, facts: DatabaseFacts, now: Date) throws -> Int {
        guard facts.hasTable("sessions") else {
            throw BackupError(.dataError, "the database has no sessions table, so sessions cannot be selected")
        }
        let s = "\(schemaName).sessions"
        try db.execute("CREATE TEMP TABLE ptc_selected (id TEXT PRIMARY KEY)")
        let missing = try sessionIDs.filter { id in
            (try db.scalar("SELECT count(*) FROM \(s) WHERE id = ?", [.text(id)]).int64 ?? 0) == 0
        }
        guard missing.isEmpty else {
            throw BackupError(.noInput, "no session with id \(missing.map { "'\($0)'" }.joined(separator: ", ")) in the database")
        }
        for id in sessionIDs {
            try db.execute("INSERT OR IGNORE INTO temp.ptc_selected VALUES (?)", [.text(id)])
        }
        for project in projects {
            let trimmed = Self.normalise(project)
            try db.execute("""
                INSERT OR IGNORE INTO temp.ptc_selected SELECT id FROM \(s)
                WHERE project_directory = ?1 OR rtrim(project_directory, '/') = ?1
                """, [.text(trimmed)])
        }
        if sessionIDs.isEmpty && projects.isEmpty {
            try db.execute("INSERT INTO temp.ptc_selected SELECT id FROM \(s)")
        }
        if let cutoff = cutoff(now: now) {
            let columns = try DatabaseFacts.columns(of: "sessions", in: db, schemaName: schemaName)
            var conditions: [String] = []
            if columns.contains("updated_at") {
                conditions.append("\(Timestamp.secondsSQL("s.updated_at")) < ?1")
            }
            if facts.hasTable("background_jobs") {
                conditions.append("EXISTS (SELECT 1 FROM \(schemaName).background_jobs j WHERE j.session_id = s.id AND \(Timestamp.secondsSQL("j.created_at")) < ?1)")
            }
            let old = conditions.isEmpty ? "0" : conditions.joined(separator: " OR ")
            try db.execute("DELETE FROM temp.ptc_selected WHERE id NOT IN (SELECT s.id FROM \(s) s WHERE \(old))", [.integer(cutoff)])
        }
        return Int(try db.scalar("SELECT count(*) FROM temp.ptc_selected").int64 ?? 0)
    }

    /// The selection with every id given as a prefix (``SessionIDs``: 8 characters or more) replaced by the
    /// one session id of `schemaName` it starts; ids that match nothing are kept as given, for
    /// ``resolve(in:schemaName:facts:now:)`` to name.
    /// - Throws: ``BackupError`` `usage` for a prefix several sessions share, listing them.
    public func resolvingPrefixes(in db: Connection, schemaName: String = "main") throws -> SessionSelection {
        guard !sessionIDs.isEmpty,
              try db.scalar("SELECT count(*) FROM \(schemaName).sqlite_schema WHERE type = 'table' AND name = 'sessions'").int64 == 1 else {
            return self
        }
        var resolved = self
        resolved.sessionIDs = try sessionIDs.map { given in
            try Self.resolve(given, in: "the database") {
                try db.rows("SELECT id FROM \(schemaName).sessions WHERE substr(id, 1, length(?1)) = ?1 LIMIT 20",
                            [.text(given)]).compactMap { $0[0].string }
            }
        }
        return resolved
    }

    /// The one session id `given` names among `candidates` (the ids starting with it; more are ignored),
    /// or `given` itself when none does (the caller's not-found error names it).
    /// - Throws: ``BackupError`` `usage` naming the candidates when several share the prefix.
    public static func resolve(_ given: String, in place: String, candidates: () throws -> [String]) throws -> String {
        switch SessionIDs.match(given, among: try candidates()) {
        case .one(let id): return id
        case .none: return given
        case .ambiguous(let ids):
            let shown = ids.prefix(10).joined(separator: ", ")
            throw BackupError.usage("session id '\(given)' is ambiguous: \(ids.count >= 20 ? "20 or more" : String(ids.count)) sessions in \(place) start with it (\(shown)\(ids.count > 10 ? ", …" : "")); type more of it")
        }
    }

    /// A project directory as stored: no trailing slash (except the root).
    static func normalise(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}
