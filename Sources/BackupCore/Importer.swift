import BackupModel
import BackupSQLite
import Foundation
import Logging
import PlanToCodeSchema
#if canImport(Glibc)
import Glibc
#endif

/// What `import` should do.
public struct ImportOptions: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Replace the whole database with the archive's content.
        case restore
        /// Add the archive's sessions to the database, which keeps its own.
        case merge
    }

    public var archivePath: String
    /// `--db`; nil for `PLANTOCODE_DB`, then the default locations.
    public var databasePath: String?
    public var mode = Mode.merge
    /// Replace a target that holds sessions or jobs (restore).
    public var force = false
    /// Merge: how a session in both is settled.
    public var onConflict = ConflictPolicy.newer
    /// Merge: project directory rewrites.
    public var remaps: [PathRemap] = []
    /// Merge: take the archive's app_settings too (under `onConflict`).
    public var includeSettings = false
    /// Merge: only these sessions of the archive (with their jobs, terminals and histories); empty: all.
    public var sessions: [String] = []
    /// Merge: skip rows the target's constraints refuse, instead of failing.
    public var skipInvalid = false
    public var dryRun = false
    public var busyTimeout: Int32 = 5000
    /// Where the archive's database is extracted (`--tmp-dir`); nil for the target database's folder, so
    /// that the space it needs is the space the restore needs anyway, and /tmp never silently fills.
    public var temporaryDirectory: String?
    /// Restore: install triggers and views the app's schema history does not have (`--allow-unknown-schema`).
    public var allowUnknownSchema = false
    /// `--lock-wait`: how long to wait for the locks another run holds (``BackupLock``).
    public var lockWait: Duration = .zero
    /// What opens an encrypted archive (`--identity`, `--passphrase`).
    public var keys = ArchiveKeys.none
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    public var now = Date()
    public var host = FileSystem.hostName()

    public init(archivePath: String) { self.archivePath = archivePath }

    /// The folder the archive's database is extracted into: ``temporaryDirectory``, else the target's folder.
    /// - Throws: ``BackupError`` `noInput` when no target can be named.
    public func extractionDirectory() throws -> String {
        if let temporaryDirectory { return temporaryDirectory }
        let target = try DatabaseLocator(environment: environment).locateTarget(explicit: databasePath)
        let folder = (target as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }
}

/// Restores archives into a PlanToCode database: verify first, migrate the archive's copy to the
/// current schema, save the target's content as an archive beside it, then copy in with the online
/// backup API (one transaction: other connections see the old state or the new one, never a mix).
public struct Importer: Sendable {
    public var logger: Logger
    public var progress: ProgressHandler?

    public init(logger: Logger = Logger(label: "ptc-backup.import", factory: { _ in SwiftLogNoOpLogHandler() }),
                progress: ProgressHandler? = nil) {
        self.logger = logger
        self.progress = progress
    }

    /// Runs the import.
    /// - Throws: ``BackupError``. Whatever fails, the target is left as it was.
    public func run(_ options: ImportOptions) throws(BackupError) -> ImportReport {
        try BackupError.atBoundary("importing") {
            let target = try DatabaseLocator(environment: options.environment).locateTarget(explicit: options.databasePath,
                                                                                            merging: options.mode == .merge)
            let targetDirectory = (target as NSString).deletingLastPathComponent.isEmpty ? "." : (target as NSString).deletingLastPathComponent
            guard FileSystem.isDirectory(targetDirectory) else {
                throw BackupError(.cantCreate, "cannot restore into \(target): the folder \(targetDirectory) does not exist")
            }
            let lock = try options.dryRun ? nil : BackupLock.acquire([.database(target)], command: "import", wait: options.lockWait)
            defer { lock?.release() }

            // 1. Verify every entry, and keep the archive's database in a private folder.
            var verifier = Verifier(logger: logger, progress: progress)
            verifier.keys = options.keys
            verifier.temporaryDirectory = options.temporaryDirectory ?? targetDirectory
            // What killed or crashed runs left beside the target (temporary safety archives, snapshots).
            TemporaryFiles.removeStale(in: targetDirectory)
            let workspace = try verifier.makeWorkspace()
            defer { withExtendedLifetime(workspace) {} }
            let outcome = try verifier.extractEntries(options.archivePath, into: workspace.path)
            guard outcome.ok, let incoming = outcome.databasePath else { throw Self.failedVerification(options.archivePath, outcome.problems) }
            if options.mode == .restore && !options.allowUnknownSchema {
                // The restored schema is the one the app will run: nothing it would not have created itself.
                let unknown = try Self.unknownSchemaObjects(incoming, archive: options.archivePath)
                guard unknown.isEmpty else {
                    let more = unknown.count > 1 ? " (and \(unknown.count - 1) more)" : ""
                    throw BackupError(.dataError, "\(options.archivePath) carries schema PlanToCode never created, so it was not restored: \(unknown[0])\(more); pass --allow-unknown-schema to restore it anyway")
                }
            }

            // 2. Check the database itself (integrity_check, foreign_key_check, row counts). When the copy
            //    needs no migration, the check runs while the import works, and the import commits only
            //    once it has passed; a migration writes to the copy, so it waits for the check.
            let check = DatabaseCheck(verifier: verifier, database: incoming, manifest: outcome.manifest, archive: options.archivePath)
            defer { _ = try? check.wait() }
            let migrations: [String]
            do {
                let plan: Migrator.Plan
                do {
                    let db = try Connection(path: incoming, mode: .readOnly)
                    plan = try Migrator.plan(db)
                    try db.close()
                }
                if !plan.isCurrent {
                    _ = try check.wait()
                    let db = try Connection(path: incoming, mode: .readWrite)
                    try db.execute("PRAGMA foreign_keys=OFF")
                    var applied: [String] = []
                    try db.inTransaction(.immediate) {
                        applied = try Migrator.apply(db, now: options.now)
                        return .commit
                    }
                    migrations = applied
                    try db.close()
                    logger.info("migrated the archive's database", metadata: ["migrations": "\(migrations.joined(separator: ","))"])
                } else {
                    migrations = []
                }
            } catch let error as SQLiteError {
                throw BackupError.sqlite(error, "migrating the archive's database", path: options.archivePath)
            }

            if options.mode == .merge {
                return try merge(incoming: incoming, into: target, manifest: outcome.manifest, migrations: migrations,
                                 check: check, options: options)
            }

            // 3. What the target holds now.
            let existing = FileSystem.exists(target)
            let held = existing ? try Self.heldRows(target, busyTimeout: options.busyTimeout) : (sessions: 0, rows: 0, any: 0)
            let incomingSessions = outcome.manifest.sessions.count
            if held.rows > 0 && !options.force && !options.dryRun {
                throw BackupError(.usage, "\(target) holds \(held.sessions) sessions and \(held.rows) session rows; restoring replaces all of it (\(held.sessions) sessions with \(incomingSessions)): add --force (its content is saved as an archive beside it first)")
            }
            var report = ImportReport(mode: options.mode.rawValue, archive: options.archivePath, database: target, dryRun: options.dryRun,
                                      safetyArchive: nil, migrations: migrations, sessions: outcome.manifest.sessions,
                                      replacedSessionCount: held.sessions, tables: [])
            if let warning = outcome.manifest.foreignKeyWarning { report.warnings.append(warning) }
            guard !options.dryRun else {
                report.tables = try check.wait()
                return report
            }

            // A WAL database cannot change its page size: the copy takes the target's first (it is checked,
            // and it is ours).
            if existing {
                try Self.matchPageSize(of: incoming, to: target, busyTimeout: options.busyTimeout, archive: options.archivePath,
                                       beforeWriting: { _ = try check.wait() })
            }

            // 4. Save what the target holds.
            // Anything at all (settings of a fresh install too) is saved before it is replaced.
            if existing && held.any > 0 {
                report.safetyArchive = try saveSafetyArchive(of: target, reason: "before-restore", options: options)
            }

            // 5. Copy in, in one transaction that commits only once the check has passed.
            do {
                try Self.copy(from: incoming, into: target, busyTimeout: options.busyTimeout, progress: progress) {
                    report.tables = try check.wait()
                }
            } catch {
                // The target is as it was, so the archive of it made a moment ago is only clutter; a target
                // this restore created is removed again.
                if let safety = report.safetyArchive { FileSystem.remove(safety) }
                if !existing { TemporaryFiles.shared.remove(target) }
                throw error
            }
            if held.sessions > incomingSessions, let safety = report.safetyArchive {
                report.warnings.append("replaced \(held.sessions) sessions with \(incomingSessions); the previous content is saved in \(safety)")
            }
            try Self.quickCheck(target, busyTimeout: options.busyTimeout)
            logger.info("restored", metadata: ["db.path": "\(target)", "archive.path": "\(options.archivePath)"])
            return report
        }
    }

    /// Merges the (migrated, private) copy `incoming` into `target` in one transaction; rolled back for a dry run.
    private func merge(incoming: String, into target: String, manifest: Manifest, migrations: [String],
                       check: DatabaseCheck, options: ImportOptions) throws -> ImportReport {
        let targetVersion = FileSystem.exists(target) ? (try? Self.appVersion(of: target)) ?? nil : nil
        var merger = Merger(policy: options.onConflict, remaps: options.remaps, includeSettings: options.includeSettings,
                            skipInvalid: options.skipInvalid, dryRun: options.dryRun, now: options.now,
                            archiveAppVersion: manifest.source.appVersion, targetAppVersion: targetVersion, logger: logger)
        merger.restoresCleanup = manifest.kind == .cleanup
        merger.sessions = options.sessions
        progress?(.started(.merge))
        var outcome = MergeOutcome()
        var tables: [Manifest.Table] = []
        if !options.remaps.isEmpty {
            // The copy is rewritten only once its check has passed (never content that was not verified).
            _ = try check.wait()
            do {
                let copy = try Connection(path: incoming, mode: .readWrite)
                outcome.remapped = try merger.remap(copy)
                try copy.close()
            } catch {
                throw BackupError.sqlite(error, "rewriting project paths in the archive's copy", path: options.archivePath)
            }
        }
        var safetyArchive: String?
        do {
            let db = try Connection(path: target, mode: .readWrite, busyTimeout: options.busyTimeout)
            // Off, so that whole tables can move in bulk; the merge only brings children whose parents
            // are in the target, and checks the keys before it commits.
            try db.execute("PRAGMA foreign_keys=OFF")
            let targetEncoding = try db.scalar("PRAGMA encoding").string ?? ""
            let copy = try Connection(path: incoming, mode: .readOnly)
            let incomingEncoding = try copy.scalar("PRAGMA encoding").string ?? ""
            try copy.close()
            guard incomingEncoding == targetEncoding else {
                throw BackupError(.dataError, "cannot merge \(options.archivePath): its database stores text as \(incomingEncoding), the target as \(targetEncoding), and SQLite cannot join the two; restore it into a new file instead (--mode restore --db NEW)")
            }
            try db.attach(incoming, as: "src", readOnly: true)
            // Rows the merge may overwrite are saved first, as an archive of the whole target.
            if !options.dryRun, try merger.willUpdateRows(db) {
                safetyArchive = try saveSafetyArchive(of: target, reason: "before-merge", options: options)
            }
            do {
                try db.inTransaction(.immediate) {
                    outcome.targetMigrations = try Migrator.apply(db, now: options.now)
                    if !outcome.targetMigrations.isEmpty {
                        logger.info("migrated \(target) to the current schema first: \(outcome.targetMigrations.joined(separator: ", "))")
                    }
                    try merger.merge(db, outcome: &outcome)
                    tables = try DatabaseFacts.rowCounts(db, tables: try DatabaseFacts(connection: db).tables)
                    _ = try check.wait()
                    // A merge that brings nothing new leaves the target as it was, byte for byte.
                    return options.dryRun || !outcome.changedTarget ? .rollback : .commit
                }
            } catch {
                // The target is as it was: the archive of it made a moment ago is only clutter.
                if let safety = safetyArchive { FileSystem.remove(safety) }
                throw error
            }
            if !outcome.changedTarget {
                if let safety = safetyArchive { FileSystem.remove(safety) }
                safetyArchive = nil
                outcome.targetMigrations = []
                // Sessions the policy took from the archive held nothing new: they are as they were.
                outcome.sessionsSkipped = (outcome.sessionsSkipped + outcome.sessionsUpdated).sorted()
                outcome.sessionsUpdated = []
            }
            try db.detach("src")
            try db.close()
        } catch {
            throw BackupError.sqlite(error, "merging into the target", path: target)
        }
        logger.info("merged", metadata: ["db.path": "\(target)", "merge.added": "\(outcome.sessionsAdded.count)",
                                         "merge.updated": "\(outcome.sessionsUpdated.count)"])
        var report = ImportReport(mode: options.mode.rawValue, archive: options.archivePath, database: target, dryRun: options.dryRun,
                                  safetyArchive: safetyArchive, migrations: migrations, sessions: manifest.sessions,
                                  replacedSessionCount: 0, tables: tables)
        report.merge = .init(onConflict: options.onConflict.rawValue, sessionsAdded: outcome.sessionsAdded,
                             sessionsUpdated: outcome.sessionsUpdated, sessionsSkipped: outcome.sessionsSkipped,
                             rowsInserted: outcome.inserted, rowsUpdated: outcome.updated, invalidRowsSkipped: outcome.invalidRows,
                             tablesNotMerged: outcome.tablesNotMerged, remapped: outcome.remapped,
                             targetMigrations: outcome.targetMigrations)
        report.merge?.columnsNotMerged = outcome.columnsNotMerged
        report.merge?.orphansLeftOut = outcome.orphansLeftOut
        if !outcome.orphansLeftOut.isEmpty {
            report.warnings.append("left out \(outcome.orphansLeftOut.count) row(s) of the archive whose parent row is missing in the archive itself")
        }
        return report
    }

    /// Rewrites the private copy `incoming` with the page size of `target` when the target is in WAL mode
    /// and the sizes differ (`PRAGMA page_size` + `VACUUM`): the online backup API cannot change the page
    /// size of a WAL database.
    /// `beforeWriting` runs first when the copy must be rewritten (the import waits for the copy's check there).
    static func matchPageSize(of incoming: String, to target: String, busyTimeout: Int32, archive: String,
                              beforeWriting: () throws -> Void) throws {
        do {
            let into = try Connection(path: target, mode: .readOnly, busyTimeout: busyTimeout)
            let targetPageSize = try into.scalar("PRAGMA page_size").int64 ?? 0
            let wal = try into.scalar("PRAGMA journal_mode").string?.lowercased() == "wal"
            try into.close()
            let incomingPageSize = try Connection(path: incoming, mode: .readOnly).scalar("PRAGMA page_size").int64
            guard wal, incomingPageSize != targetPageSize else { return }
            try beforeWriting()
            let copy = try Connection(path: incoming, mode: .readWrite)
            defer { try? copy.close() }
            try copy.execute("PRAGMA page_size=\(targetPageSize); VACUUM")
            guard try copy.scalar("PRAGMA page_size").int64 == targetPageSize else {
                throw BackupError(.dataError, "cannot restore \(archive) into \(target): its pages cannot be converted to the target's page size of \(targetPageSize) bytes")
            }
        } catch {
            throw BackupError.sqlite(error, "converting the archive's database to the target's page size", path: target)
        }
    }

    /// Triggers and views of the database at `path` that the app's schema history (Schema/) does not
    /// have, and `sqlite_sequence` values that could harm the app (below their table's largest key, which
    /// SQLite never writes, or so large that new rows would fail); one line each.
    static func unknownSchemaObjects(_ path: String, archive: String) throws -> [String] {
        do {
            let db = try Connection(path: path, mode: .readOnly)
            defer { try? db.close() }
            let known = try SchemaCatalog.knownTriggersAndViews
            var found: [String] = []
            let objects = try db.schemaObjects()
            for object in objects where object.type == "trigger" || object.type == "view" {
                if !known.contains(SchemaCatalog.normalized(object.sql ?? "")) {
                    found.append("\(object.type) \(object.name) on \(object.table)")
                }
            }
            if objects.contains(where: { $0.name == "sqlite_sequence" }) {
                let tables = Set(objects.filter { $0.type == "table" }.map(\.name))
                for row in try db.rows("SELECT name, seq FROM sqlite_sequence") {
                    guard let table = row[0].string, tables.contains(table), let seq = row[1].int64 else { continue }
                    let largest = try db.scalar("SELECT max(rowid) FROM \(DatabaseFacts.quote(table))").int64 ?? 0
                    if seq < largest || seq >= 1 << 62 {
                        found.append("sqlite_sequence of \(table) is \(seq), its largest key is \(largest)")
                    }
                }
            }
            return found
        } catch {
            throw BackupError.sqlite(error, "reading the archive's schema", path: archive)
        }
    }

    /// `quick_check` of the target after a restore.
    static func quickCheck(_ target: String, busyTimeout: Int32) throws {
        let results = try DatabaseFacts.quickCheck(target, busyTimeout: busyTimeout, doing: "checking the target after the restore")
        guard results == ["ok"] else {
            throw BackupError(.ioError, "\(target) fails quick_check after the restore: \(results.prefix(3).joined(separator: "; "))")
        }
    }

    static func failedVerification(_ archive: String, _ problems: [String]) -> BackupError {
        let more = problems.count > 1 ? " (and \(problems.count - 1) more)" : ""
        return BackupError(.dataError, "\(archive) fails verification, nothing was changed: \(problems.first ?? "no database in the archive")\(more)")
    }

    /// `app_version` from the database's key_value_store, when it has one.
    static func appVersion(of path: String) throws -> String? {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        return try DatabaseFacts.versionMarkers(db, facts: try DatabaseFacts(connection: db)).app
    }

    /// Saves `database` as a full archive beside it, named `<file>.<reason>-<UTC time>.tar.zst` (with `-2`,
    /// `-3`… when that name is taken).
    func saveSafetyArchive(of database: String, reason: String, options: ImportOptions) throws -> String {
        var export = ExportOptions()
        export.databasePath = database
        let stem = "\(database).\(reason)-\(Timestamp.compact(options.now))"
        export.output = ([stem] + (2...99).map { "\(stem)-\($0)" }).map { $0 + ".tar.zst" }.first { !FileSystem.exists($0) }
            ?? "\(stem)-\(UUID().uuidString).tar.zst"
        export.busyTimeout = options.busyTimeout
        export.environment = options.environment
        export.now = options.now
        export.host = options.host
        let result = try Exporter(logger: logger, progress: progress).export(export)
        guard let path = result.archivePath else { throw BackupError(.software, "the safety archive of \(database) was not written") }
        logger.info("saved the current content of \(database) to \(path)")
        return path
    }

    /// Sessions, rows of session data (sessions, jobs, terminals, histories, prompts), and rows of any
    /// kind (settings too), in `path`.
    static func heldRows(_ path: String, busyTimeout: Int32) throws -> (sessions: Int, rows: Int, any: Int) {
        let counts: [Manifest.Table]
        do {
            let db = try Connection(path: path, mode: .readOnly, busyTimeout: busyTimeout)
            counts = try DatabaseFacts.rowCounts(db, tables: try DatabaseFacts(connection: db).tables)
            try db.close()
        } catch {
            throw BackupError.sqlite(error, "reading the target", path: path)
        }
        let sessionData: Set = ["sessions", "background_jobs", "terminal_sessions", "task_description_history",
                                "file_selection_history", "project_system_prompts"]
        return (Int(counts.first { $0.name == "sessions" }?.rows ?? 0),
                Int(counts.filter { sessionData.contains($0.name) }.reduce(0) { $0 + $1.rows }),
                Int(counts.reduce(0) { $0 + $1.rows }))
    }

    /// Replaces the content of `target` with that of `source` through the online backup API, in one step
    /// (one write transaction on the target). Works while the target has `-wal`/`-shm` files and other
    /// connections; they see the new state after the commit.
    static func copy(from source: String, into target: String, busyTimeout: Int32, progress: ProgressHandler?,
                     beforeCommit: @escaping () throws -> Void) throws {
        do {
            let from = try Connection(path: source, mode: .readOnly)
            let into = try Connection(path: target, mode: .readWriteCreate, busyTimeout: busyTimeout)
            // The target stays write-locked from the first step to the last; nothing is visible before the
            // last one commits, and a failure before then rolls the target back.
            let pageSize = progress == nil ? 0 : try from.scalar("PRAGMA page_size").int64 ?? 4096
            try from.backup(to: into, pagesPerStep: 16_384, progress: { step in
                progress?(ProgressEvent(phase: .restore, done: Int64(step.copiedPages) * pageSize, total: Int64(step.totalPages) * pageSize))
            }, beforeFinalStep: beforeCommit)
            try into.close()
            try from.close()
        } catch let error as SQLiteError {
            throw BackupError.sqlite(error, "restoring into the target", path: target)
        }
    }
}
