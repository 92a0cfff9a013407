import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
import Logging
import PlanToCodeSchema

/// How a session (or project prompt, or setting) present in both the archive and the target is settled.
public enum ConflictPolicy: String, Sendable, CaseIterable {
    /// Keep the target's.
    case skip
    /// Take the archive's.
    case replace
    /// Take whichever has the later `updated_at` (seconds and milliseconds understood); the target's on a tie.
    case newer
}

/// A `--remap OLD=NEW`: project directories under OLD move to NEW (whole path components only).
public struct PathRemap: Sendable, Equatable {
    public var old: String
    public var new: String

    public init(old: String, new: String) {
        self.old = SessionSelection.normalise(old)
        self.new = SessionSelection.normalise(new)
    }

    /// Parses `OLD=NEW`. Both must be absolute: `/...`, or a Windows path (`C:\...`, `C:/...`, `\\server\...`)
    /// for archives written on Windows. A relative path (`code`, `./code`, `~/code`: the shell does not
    /// expand `~` after `=`) would match nothing, or the wrong thing, so it is refused.
    /// - Throws: ``BackupError`` `usage` naming the side that is not absolute.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw BackupError.usage("invalid --remap '\(text)': use OLD=NEW, like /home/ana/code=/Users/ana/code")
        }
        func isAbsolute(_ path: Substring) -> Bool {
            let characters = Array(path)
            if characters.first == "/" || path.hasPrefix("\\\\") { return true }
            return characters.count >= 3 && characters[0].isASCII && characters[0].isLetter && characters[1] == ":"
                && (characters[2] == "\\" || characters[2] == "/")
        }
        for (side, path) in [("OLD", parts[0]), ("NEW", parts[1])] where !isAbsolute(path) {
            throw BackupError.usage("invalid --remap '\(text)': \(side) '\(path)' is a relative path; give absolute paths, like /home/ana/code=/Users/ana/code")
        }
        self.init(old: String(parts[0]), new: String(parts[1]))
    }

    /// `path` moved, or nil when it is not under `old`.
    public func apply(to path: String) -> String? {
        if path == old { return new }
        let prefix = old == "/" ? "/" : old + "/"
        guard path.hasPrefix(prefix) else { return nil }
        return (new == "/" ? "/" : new + "/") + path.dropFirst(prefix.count)
    }
}

/// What a merge did (or, dry, would do).
public struct MergeOutcome: Sendable {
    public var sessionsAdded: [String] = []
    public var sessionsUpdated: [String] = []
    public var sessionsSkipped: [String] = []
    /// Rows inserted and updated per table.
    public var inserted: [String: Int64] = [:]
    public var updated: [String: Int64] = [:]
    /// Rows the target's constraints refused: "table id: reason".
    public var invalidRows: [String] = []
    /// Archive tables that a merge does not carry (not session data, or unknown to this tool).
    public var tablesNotMerged: [String] = []
    /// Project directories rewritten: old → new.
    public var remapped: [String: String] = [:]
    /// Migrations applied to the target first.
    public var targetMigrations: [String] = []
    /// Archive columns the target no longer has (`table.column`), left behind.
    public var columnsNotMerged: [String] = []
    /// Archive rows whose parent is missing in the archive itself, left out: one line each.
    public var orphansLeftOut: [String] = []

    /// Whether the merge wrote anything to the target.
    public var changedTarget: Bool {
        inserted.values.contains { $0 > 0 } || updated.values.contains { $0 > 0 }
    }
}

/// Merges the sessions of a verified, current-schema copy of an archive's database into a target, in
/// one transaction that never deletes a row of the target and never uses `INSERT OR REPLACE` (which
/// deletes first, and cascades): new rows are inserted, rows the policy takes are updated in place.
struct Merger {
    var policy: ConflictPolicy
    var remaps: [PathRemap]
    var includeSettings: Bool
    var skipInvalid: Bool
    var dryRun: Bool
    var now: Date
    /// For messages: the app versions of the archive and of the target.
    var archiveAppVersion: String?
    var targetAppVersion: String?
    var logger = Logger(label: "ptc-backup.merge", factory: { _ in SwiftLogNoOpLogHandler() })
    /// The archive is a cleanup archive: its jobs (and their terminals) that the target no longer has come
    /// back under the target's sessions even when the policy keeps the target's session rows.
    var restoresCleanup = false
    /// Only these sessions of the archive come in (with their jobs, terminals and histories); empty: all.
    var sessions: [String] = []

    /// Session data merged per session, in dependency order.
    static let sessionTables = ["sessions", "background_jobs", "terminal_sessions", "task_description_history",
                                "file_selection_history", "project_system_prompts"]
    /// Tables that stay the target's (app_settings too, unless `includeSettings`).
    static let targetOwned = ["key_value_store", "app_settings", "error_logs", "db_diagnostic_logs", "migrations"]

    /// Rewrites project paths in `incoming` (a private copy) as `remaps` say, with fresh project hashes.
    func remap(_ incoming: Connection) throws -> [String: String] {
        guard !remaps.isEmpty else { return [:] }
        var moved: [String: String] = [:]
        // The copy is ours: none of its triggers (the archive's own) may fire on our UPDATEs.
        try incoming.inTransaction {
            try incoming.withTriggersSetAside {
                let directories = try incoming.rows("SELECT DISTINCT project_directory FROM sessions").compactMap { $0[0].string }
                for directory in directories {
                    guard let target = remaps.lazy.compactMap({ $0.apply(to: directory) }).first else { continue }
                    let oldHash = ProjectHash.of(directory), newHash = ProjectHash.of(target)
                    try incoming.execute("UPDATE sessions SET project_directory = ?, project_hash = ? WHERE project_directory = ?",
                                         [.text(target), .text(newHash), .text(directory)])
                    try incoming.execute("UPDATE project_system_prompts SET project_hash = ? WHERE project_hash = ?", [.text(newHash), .text(oldHash)])
                    moved[directory] = target
                }
                let workingDirectories = try incoming.rows("SELECT DISTINCT working_directory FROM terminal_sessions WHERE working_directory IS NOT NULL")
                    .compactMap { $0[0].string }
                for directory in workingDirectories {
                    guard let target = remaps.lazy.compactMap({ $0.apply(to: directory) }).first else { continue }
                    try incoming.execute("UPDATE terminal_sessions SET working_directory = ? WHERE working_directory = ?", [.text(target), .text(directory)])
                }
            }
            return .commit
        }
        return moved
    }

    /// Whether the merge of `src` (attached to `db`) will overwrite any row of the target: a session, a
    /// project prompt or (with `includeSettings`) a setting that the policy gives to the archive.
    func willUpdateRows(_ db: Connection) throws -> Bool {
        guard policy != .skip else { return false }
        let target = try DatabaseFacts(connection: db)
        let source = try DatabaseFacts(connection: db, schemaName: "src")
        // Conservative: a session the policy gives to the archive may have changed jobs under it even when
        // its own row is the same. The caller removes the safety archive when nothing was written.
        var probes: [String] = []
        func probe(_ table: String, key: [String]) {
            guard target.hasTable(table) && source.hasTable(table) else { return }
            let match = key.map { "t.\(DatabaseFacts.quote($0)) = s.\(DatabaseFacts.quote($0))" }.joined(separator: " AND ")
            probes.append("SELECT 1 FROM src.\(DatabaseFacts.quote(table)) s JOIN main.\(DatabaseFacts.quote(table)) t ON \(match) WHERE \(takeIncoming("s", "t"))")
        }
        probe("sessions", key: ["id"])
        probe("project_system_prompts", key: ["project_hash", "task_type"])
        if includeSettings { probe("app_settings", key: ["key"]) }
        for probe in probes where try db.scalar("SELECT EXISTS (\(probe))").int64 == 1 { return true }
        return false
    }

    /// Merges `src` (attached to `db`) into `main`, inside the caller's transaction.
    func merge(_ db: Connection, outcome: inout MergeOutcome) throws {
        let targetFacts = try DatabaseFacts(connection: db)
        let sourceFacts = try DatabaseFacts(connection: db, schemaName: "src")
        for table in sourceFacts.tables where !Self.sessionTables.contains(table) && !Self.targetOwned.contains(table) {
            outcome.tablesNotMerged.append(table)
        }
        for table in Self.targetOwned where sourceFacts.hasTable(table) && !(includeSettings && table == "app_settings") {
            outcome.tablesNotMerged.append(table)
        }
        var columns: [String: [String]] = [:]
        let historical = try SchemaCatalog.historicalColumns
        for table in Self.sessionTables + ["app_settings"] where sourceFacts.hasTable(table) {
            guard targetFacts.hasTable(table) else {
                throw BackupError(.dataError, "the target has no \(table) table, which the archive's sessions need; run `ptc-backup migrate` on it or restore instead")
            }
            let targetColumns = try DatabaseFacts.columns(of: table, in: db)
            let sourceColumns = try DatabaseFacts.columns(of: table, in: db, schemaName: "src")
            let missing = sourceColumns.filter { !targetColumns.contains($0) }
            // Columns of older app versions that today's schema dropped stay behind (and are named);
            // any other column the target lacks comes from a newer app, whose data would be lost.
            let unknown = missing.filter { !(historical[table]?.contains($0) ?? false) }
            guard unknown.isEmpty else {
                throw BackupError(.dataError, "the archive's \(table) has columns the target lacks and this tool cannot add (\(unknown.joined(separator: ", "))): the archive was written by app \(archiveAppVersion ?? "unknown"), the target is app \(targetAppVersion ?? "unknown"); upgrade PlanToCode on this machine first")
            }
            outcome.columnsNotMerged += missing.map { "\(table).\($0)" }
            columns[table] = sourceColumns.filter { targetColumns.contains($0) }
        }
        // Rows of the archive whose parent is missing in the archive itself (the source's own faults)
        // cannot come in: they are left out, and named.
        outcome.orphansLeftOut = try DatabaseFacts.orphanRows(db, schemaName: "src").filter { line in
            Self.sessionTables.contains { line.hasPrefix($0 + " ") }
        }
        // The target's own faults are not the merge's: only violations it adds stop it.
        var violationsBefore: [String: Int] = [:]
        for table in Self.sessionTables where targetFacts.hasTable(table) {
            violationsBefore[table] = try db.rows("PRAGMA main.foreign_key_check(\(DatabaseFacts.quote(table)))").count
        }

        // The sessions asked for (all of the archive's unless some are named); a name it lacks is an error.
        try db.execute("CREATE TEMP TABLE ptc_chosen (id TEXT PRIMARY KEY)")
        if sessions.isEmpty {
            try db.execute("INSERT INTO temp.ptc_chosen SELECT id FROM src.sessions")
        } else {
            for given in sessions {
                // A unique prefix (8+ characters) names its session, as everywhere else.
                let id = try SessionSelection.resolve(given, in: "the archive") {
                    try ids("SELECT id FROM src.sessions WHERE substr(id, 1, length(?1)) = ?1 LIMIT 20", db, [.text(given)])
                }
                try db.execute("INSERT OR IGNORE INTO temp.ptc_chosen VALUES (?)", [.text(id)])
            }
            let missing = try ids("SELECT id FROM temp.ptc_chosen WHERE id NOT IN (SELECT id FROM src.sessions) ORDER BY id", db)
            if !missing.isEmpty {
                throw BackupError(.noInput, "the archive has no session \(missing.joined(separator: ", ")); `ptc-backup inspect ARCHIVE` lists its sessions")
            }
        }
        let chosen = "(SELECT id FROM temp.ptc_chosen)"

        // Which sessions come in: new ones, and those in both that the policy gives to the archive.
        try db.execute("CREATE TEMP TABLE ptc_added (id TEXT PRIMARY KEY); CREATE TEMP TABLE ptc_replaced (id TEXT PRIMARY KEY)")
        try db.execute("INSERT INTO temp.ptc_added SELECT id FROM src.sessions WHERE id IN \(chosen) AND id NOT IN (SELECT id FROM main.sessions)")
        try db.execute("INSERT INTO temp.ptc_replaced SELECT s.id FROM src.sessions s JOIN main.sessions t ON t.id = s.id WHERE s.id IN \(chosen) AND \(takeIncoming("s", "t"))")
        outcome.sessionsAdded = try ids("SELECT id FROM temp.ptc_added ORDER BY id", db)
        outcome.sessionsUpdated = try ids("SELECT id FROM temp.ptc_replaced ORDER BY id", db)
        outcome.sessionsSkipped = try ids("SELECT s.id FROM src.sessions s JOIN main.sessions t ON t.id = s.id WHERE s.id IN \(chosen) AND s.id NOT IN (SELECT id FROM temp.ptc_replaced) ORDER BY s.id", db)
        try db.execute("CREATE TEMP TABLE ptc_accepted (id TEXT PRIMARY KEY); INSERT INTO temp.ptc_accepted SELECT id FROM temp.ptc_added UNION SELECT id FROM temp.ptc_replaced")

        let q = DatabaseFacts.quote
        func upsert(_ table: String, key: [String], scope: String, update: String?) throws {
            guard let cols = columns[table] else { return }
            if try copyWhole(table, scope: scope, columns: cols, db: db, outcome: &outcome) { return }
            let list = cols.map(q).joined(separator: ", ")
            let keyMatch = key.map { "t.\(q($0)) = s.\(q($0))" }.joined(separator: " AND ")
            // {ROW} is where run(_:) narrows a statement to one archive row when a bulk one fails.
            let insert = "INSERT INTO main.\(q(table)) (\(list)) SELECT \(cols.map { "s.\(q($0))" }.joined(separator: ", ")) FROM src.\(q(table)) s WHERE {ROW} (\(scope)) AND NOT EXISTS (SELECT 1 FROM main.\(q(table)) t WHERE \(keyMatch))"
            outcome.inserted[table, default: 0] += try run(insert, table: table, key: key, db: db, invalid: &outcome.invalidRows)
            if let update {
                // Driven from the archive's rows through the keys' indexes, not by scanning the target.
                let sets = cols.filter { !key.contains($0) }
                let keys = key.map(q).joined(separator: ", ")
                let assign = "(\(sets.map(q).joined(separator: ", "))) = (SELECT \(sets.map { "s.\(q($0))" }.joined(separator: ", ")) FROM src.\(q(table)) s WHERE \(key.map { "s.\(q($0)) = main.\(q(table)).\(q($0))" }.joined(separator: " AND ")))"
                // Only rows that differ are written: a merge that brings nothing new changes nothing.
                let differs = sets.isEmpty ? "0" : "(\(sets.map { "s.\(q($0))" }.joined(separator: ", "))) IS NOT (\(sets.map { "t.\(q($0))" }.joined(separator: ", ")))"
                let chosen = "SELECT \(key.map { "t.\(q($0))" }.joined(separator: ", ")) FROM src.\(q(table)) s JOIN main.\(q(table)) t ON \(keyMatch) WHERE {ROW} (\(update)) AND \(differs)"
                let statement = "UPDATE main.\(q(table)) SET \(assign) WHERE (\(keys)) IN (\(chosen))"
                outcome.updated[table, default: 0] += try run(statement, table: table, key: key, db: db, invalid: &outcome.invalidRows)
            }
        }

        // The target's triggers on terminal_sessions would rewrite updated_at on every update: they are
        // set aside for the length of the transaction and come back exactly as they were.
        try db.withTriggersSetAside(on: ["terminal_sessions"]) {
            try upsert("sessions", key: ["id"], scope: "s.id IN (SELECT id FROM temp.ptc_added)", update: "s.id IN (SELECT id FROM temp.ptc_replaced)")
            // Children come only with parents that are in the target now (a parent the target refused
            // keeps its children out), so no key can dangle.
            let acceptedInTarget = "(SELECT id FROM temp.ptc_accepted WHERE id IN (SELECT id FROM main.sessions))"
            // A cleanup archive's jobs come back under any session the target has (it only ever adds them).
            let jobParents = restoresCleanup ? "(SELECT id FROM main.sessions WHERE id IN \(chosen))" : acceptedInTarget
            try upsert("background_jobs", key: ["id"], scope: "s.session_id IN \(jobParents)",
                       update: "s.session_id IN (SELECT id FROM temp.ptc_replaced) AND t.session_id = s.session_id")
            if columns["terminal_sessions"]?.contains("job_id") == true {
                try upsert("terminal_sessions", key: ["id"],
                           scope: "s.job_id IN (SELECT id FROM main.background_jobs WHERE session_id IN \(jobParents))",
                           update: "s.job_id IN (SELECT id FROM src.background_jobs WHERE session_id IN (SELECT id FROM temp.ptc_replaced))")
            }
            try mergeHistory("task_description_history", content: ["description"], columns: columns, db: db, outcome: &outcome)
            try mergeHistory("file_selection_history", content: ["included_files", "force_excluded_files"], columns: columns, db: db, outcome: &outcome)
            try upsert("project_system_prompts", key: ["project_hash", "task_type"],
                       scope: "s.project_hash IN (SELECT project_hash FROM src.sessions WHERE id IN (SELECT id FROM temp.ptc_accepted))",
                       update: "s.project_hash IN (SELECT project_hash FROM src.sessions WHERE id IN (SELECT id FROM temp.ptc_accepted)) AND \(takeIncoming("s", "t"))")
            if includeSettings {
                try upsert("app_settings", key: ["key"], scope: "1", update: takeIncoming("s", "t"))
            }
        }
        for table in Self.sessionTables where targetFacts.hasTable(table) {
            let violations = try db.rows("PRAGMA main.foreign_key_check(\(q(table)))")
            guard violations.count <= violationsBefore[table, default: 0] else {
                throw BackupError(.dataError, "the merge would leave \(violations.count) row(s) of \(table) without their parent (first: rowid \(violations[0][1]) → \(violations[0][2])); nothing was merged")
            }
        }
        try db.execute("DROP TABLE temp.ptc_added; DROP TABLE temp.ptc_replaced; DROP TABLE temp.ptc_accepted")
        guard outcome.invalidRows.isEmpty || skipInvalid else {
            let shown = outcome.invalidRows.prefix(5).joined(separator: "; ")
            let more = outcome.invalidRows.count > 5 ? " (and \(outcome.invalidRows.count - 5) more)" : ""
            throw BackupError(.dataError, "\(outcome.invalidRows.count) row(s) of the archive break the target's rules, so nothing was merged: \(shown)\(more); add --skip-invalid to merge the rest")
        }
    }

    /// Copies a whole table in one `INSERT INTO t SELECT * FROM src.t`, which SQLite can move as whole
    /// records, when the target's table is empty, everything in the archive's is in scope, and both have
    /// the same columns in the same order. Returns false when that does not hold or a row is refused (the
    /// caller then merges row-wise, which names the refused rows).
    private func copyWhole(_ table: String, scope: String, columns: [String], db: Connection, outcome: inout MergeOutcome) throws -> Bool {
        let q = DatabaseFacts.quote
        guard try DatabaseFacts.columns(of: table, in: db) == columns,
              try DatabaseFacts.columns(of: table, in: db, schemaName: "src") == columns,
              try db.scalar("SELECT NOT EXISTS (SELECT 1 FROM main.\(q(table)))").int64 == 1,
              try db.scalar("SELECT NOT EXISTS (SELECT 1 FROM src.\(q(table)) s WHERE (\(scope)) IS NOT 1)").int64 == 1 else { return false }
        var copied: Int64 = 0
        let refused = try db.constraintViolation(inSavepoint: {
            try db.execute("INSERT INTO main.\(q(table)) SELECT * FROM src.\(q(table))")
            copied = db.changes
        })
        guard refused == nil else { return false }
        outcome.inserted[table, default: 0] += copied
        logger.debug("copied a whole table", metadata: ["table": "\(table)", "rows": "\(copied)"])
        return true
    }

    /// History rows get fresh ids; one already present (same session, created_at and content) is not repeated.
    private func mergeHistory(_ table: String, content: [String], columns: [String: [String]], db: Connection,
                              outcome: inout MergeOutcome) throws {
        guard let cols = columns[table]?.filter({ $0 != "id" }) else { return }
        let q = DatabaseFacts.quote
        let same = (["session_id", "created_at"] + content).map { "t.\(q($0)) IS s.\(q($0))" }.joined(separator: " AND ")
        let insert = """
            INSERT INTO main.\(q(table)) (\(cols.map(q).joined(separator: ", "))) SELECT \(cols.map { "s.\(q($0))" }.joined(separator: ", "))
            FROM src.\(q(table)) s WHERE {ROW} s.session_id IN (SELECT id FROM temp.ptc_accepted WHERE id IN (SELECT id FROM main.sessions))
            AND NOT EXISTS (SELECT 1 FROM main.\(q(table)) t WHERE \(same)) ORDER BY s.id
            """
        outcome.inserted[table, default: 0] += try run(insert, table: table, key: ["id"], db: db, invalid: &outcome.invalidRows)
    }

    /// SQL that is true when the policy takes the archive's row `s` over the target's `t`.
    private func takeIncoming(_ s: String, _ t: String) -> String {
        switch policy {
        case .skip: return "0"
        case .replace: return "1"
        case .newer: return "\(Timestamp.secondsSQL("\(s).updated_at")) > \(Timestamp.secondsSQL("\(t).updated_at"))"
        }
    }

    private func ids(_ sql: String, _ db: Connection, _ arguments: [SQLValue] = []) throws -> [String] {
        try db.rows(sql, arguments).compactMap { $0[0].string }
    }

    /// Runs a bulk statement. When a row breaks one of the target's constraints, runs it again row by
    /// row (by rowid of the archive's table, put where the statement says `{ROW}`) to name every such
    /// row, skipping them. (Foreign keys are off during a merge: children come only with parents already
    /// in the target, and ``merge(_:outcome:)`` checks the keys before the commit.)
    private func run(_ sql: String, table: String, key: [String], db: Connection, invalid: inout [String]) throws -> Int64 {
        let started = ContinuousClock.now
        var changed: Int64 = 0
        let refused = try db.constraintViolation(inSavepoint: {
            try db.execute(sql.replacingOccurrences(of: "{ROW}", with: ""))
            changed = db.changes
        })
        guard refused != nil else {
            logger.debug("merged rows", metadata: ["table": "\(table)", "rows": "\(changed)", "seconds": "\(ContinuousClock.now - started)",
                                                   "statement": "\(sql.prefix(6))"])
            return changed
        }
        // One row at a time: the same statement narrowed to one archive row.
        let q = DatabaseFacts.quote
        let narrowed = sql.replacingOccurrences(of: "{ROW}", with: "s.rowid = ?1 AND")
        let rowids = try db.rows("SELECT rowid, \(key.map { q($0) }.joined(separator: " || '/' || ")) FROM src.\(q(table))")
        changed = 0
        for row in rowids {
            if let refused = try db.constraintViolation(inSavepoint: {
                try db.execute(narrowed, [row[0]])
                changed += db.changes
            }) {
                invalid.append("\(table) \(row[1]): \(refused.message)")
            }
        }
        return changed
    }
}
