import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
import Logging

/// What `cleanup` should do.
public struct CleanupOptions: Sendable {
    /// `--db`; nil for `PLANTOCODE_DB`, then the default locations.
    public var databasePath: String?
    /// `--older-than`: replaces the setting's days (same rule otherwise).
    public var olderThan: Age?
    /// `--ahead`: the archive also holds the jobs the rule selects within this span from now.
    public var ahead: Age? = try? Age(parsing: "2d")
    /// `--output`: the folder the cleanup archive goes to (the current one by default).
    public var output: String?
    /// `--to`: a remote folder the archive is uploaded to, and checked on, before anything is deleted.
    public var remote: String?
    /// `--sessions-older-than`: also whole sessions whose `updated_at` and every job's are older than this.
    public var sessionsOlderThan: Age?
    /// `--no-delete`: archive only.
    public var noDelete = false
    public var dryRun = false
    public var busyTimeout: Int32 = 5000
    public var compressionLevel = 3
    /// `--lock-wait`: how long to wait for the locks another run holds (``BackupLock``).
    public var lockWait: Duration = .zero
    /// `--encrypt-to`, `--encrypt-to-file`, `--passphrase`: the archive is encrypted (age) as it is written.
    public var encryption: ArchiveEncryption?
    /// `--redact-env`: secret-looking values of `terminal_sessions.environment_vars` replaced in the archive.
    public var redactEnvironment = false
    /// `--identity`: what reads the encrypted archive back before anything is deleted (a passphrase opens
    /// its own archive; recipients need the identity of one of them).
    public var keys = ArchiveKeys.none
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    public var now = Date()
    public var host = FileSystem.hostName()

    public init() {}
}

/// `cleanup`: archives what the app's own retention cleanup is about to delete, proves the archive (and
/// its remote copy) good, then deletes exactly the archived rows that are still as they were, in one
/// short transaction; children go by the schema's own cascades.
public struct Cleaner: Sendable {
    public var logger: Logger
    public var progress: ProgressHandler?

    public init(logger: Logger = Logger(label: "ptc-backup.cleanup", factory: { _ in SwiftLogNoOpLogHandler() }),
                progress: ProgressHandler? = nil) {
        self.logger = logger
        self.progress = progress
    }

    /// Runs the cleanup; `transfers` uploads to `options.remote`.
    /// - Throws: ``BackupError``. Nothing is deleted unless the archive (and its remote copy) checked out.
    public func run(_ options: CleanupOptions, transfers: Transfers? = nil) throws(BackupError) -> CleanupReport {
        try BackupError.atBoundary("cleaning up") {
            let started = Date()
            let keys = try Self.verifyingKeys(options)
            let path = try DatabaseLocator(environment: options.environment).locate(explicit: options.databasePath)
            let lock = try options.dryRun ? nil : BackupLock.acquire([.database(path)], command: "cleanup", wait: options.lockWait)
            defer { lock?.release() }
            let remoteLock = try options.dryRun ? nil : options.remote.map { try RemoteLock.acquire($0, options: transfers?.options ?? RemoteOptions(), command: "cleanup", wait: options.lockWait, environment: options.environment) }
            defer { remoteLock?.release() }
            let (rule, plan) = try survey(path, options: options)
            var report = CleanupReport(database: path, rule: rule.description, dryRun: options.dryRun)
            report.archived = plan.archived
            report.toDelete = plan.toDelete
            report.oldestJob = plan.oldest
            report.newestJob = plan.newest
            report.outputLogBytes = plan.outputLogBytes
            guard !options.dryRun else { return report.finished(started) }
            guard plan.archivedJobs > 0 else {
                report.message = "nothing to clean up: no job matches the rule"
                return report.finished(started)
            }

            // 1. The archive: the jobs, their terminals, their sessions' rows, at one point in time.
            var export = ExportOptions()
            export.databasePath = path
            export.output = (options.output.map { $0.hasSuffix("/") ? $0 : $0 + "/" }) ?? "./"
            export.jobs = JobSelection(rule: rule, ahead: options.ahead, now: options.now, sessionsOlderThan: options.sessionsOlderThan)
            export.busyTimeout = options.busyTimeout
            export.compressionLevel = options.compressionLevel
            export.lockWait = options.lockWait
            export.environment = options.environment
            export.now = options.now
            export.host = options.host
            export.encryption = options.encryption
            export.redactEnvironment = options.redactEnvironment
            let exported = try Exporter(logger: logger, progress: progress).export(export)
            guard let archive = exported.archivePath, let manifest = exported.manifest else {
                report.message = "nothing to clean up: no job matched when the archive was taken"
                return report.finished(started)
            }
            report.archive = archive
            report.archived = manifest.tables.filter { Self.sessionData.contains($0.name) && $0.rows > 0 }

            // 2. Proven before anything is deleted: here, and on the remote.
            // An encrypted archive is decrypted to a workspace beside the database (which holds those rows
            // in the clear already), never beside the archive (which may be a share).
            var verifier = Verifier(logger: logger, progress: progress)
            let workFolder = ((options.encryption == nil ? archive : path) as NSString).deletingLastPathComponent
            verifier.temporaryDirectory = workFolder.isEmpty ? "." : workFolder
            verifier.keys = keys
            let workspace = try verifier.makeWorkspace()
            defer { withExtendedLifetime(workspace) {} }
            let outcome = try verifier.extract(archive, into: workspace.path)
            guard outcome.ok, let archived = outcome.databasePath else {
                throw BackupError(.dataError, "the cleanup archive \(archive) fails verification, so nothing was deleted: \(outcome.problems.first ?? "no database inside")")
            }
            if let remote = options.remote {
                guard var transfers else { throw BackupError(.software, "no transfers to upload to \(remote)") }
                transfers.progress = progress
                let uploaded = try transfers.push(archive, to: remote, environment: options.environment)
                let url = remote.hasSuffix("/") ? remote + uploaded.name : remote + "/" + uploaded.name
                let local = try Self.sha256(of: archive)
                let remoteDigest = try transfers.withDownload(url, temporaryDirectory: workspace.path, environment: options.environment) {
                    try Self.sha256(of: $0)
                }
                guard remoteDigest == local, uploaded.size == FileSystem.size(of: archive) else {
                    throw BackupError(.unavailable, "the copy of the cleanup archive on \(url) does not match the local one (SHA-256 \(remoteDigest), expected \(local)), so nothing was deleted")
                }
                report.uploadedTo = url
            }
            guard !options.noDelete else {
                report.message = "archived only (--no-delete)"
                return report.finished(started)
            }

            // 3. Delete exactly the archived rows that are still unchanged, in one short transaction.
            let deletion = try delete(archivedDatabase: archived, from: path, rule: rule, options: options)
            report.deleted = deletion.deleted
            report.skippedChanged = deletion.skipped
            report.lockHeldMilliseconds = deletion.lockHeldMilliseconds
            report.reclaimableBytes = deletion.reclaimableBytes
            logger.info("cleaned up", metadata: ["db.path": "\(path)", "archive.path": "\(archive)",
                                                 "cleanup.deleted": "\(deletion.deleted["background_jobs"] ?? 0)"])
            return report.finished(started)
        }
    }

    /// What reads the archive back: deleting rows needs their archived copy read and compared, so an
    /// archive encrypted to recipients needs an identity of one of them (the key is not ours to keep).
    static func verifyingKeys(_ options: CleanupOptions) throws(BackupError) -> ArchiveKeys {
        let keys = options.keys.adding(options.encryption)
        guard options.encryption == nil || !keys.isEmpty || options.dryRun else {
            throw BackupError.usage("cleanup reads its archive back before deleting anything: with --encrypt-to, give --identity FILE (or PTC_BACKUP_IDENTITY) of one of the recipients")
        }
        return keys
    }

    static let sessionData: Set = ["sessions", "background_jobs", "terminal_sessions", "task_description_history", "file_selection_history"]

    struct Plan {
        var archived: [Manifest.Table] = []
        var toDelete: [String: Int64] = [:]
        var archivedJobs: Int64 = 0
        var oldest: String?
        var newest: String?
        var outputLogBytes: Int64 = 0
    }

    /// The rule and what it selects now (to delete) and with `ahead` (to archive), read-only.
    func survey(_ path: String, options: CleanupOptions) throws -> (CleanupRule, Plan) {
        do {
            let db = try Connection(path: Connection.fileURI(path, readOnly: true), mode: .readOnly, busyTimeout: options.busyTimeout)
            defer { try? db.close() }
            var plan = Plan()
            var rule = CleanupRule(source: .absent)
            try db.withReadTransaction {
                rule = try CleanupRule.read(db, olderThan: options.olderThan)
                let facts = try DatabaseFacts(connection: db)
                guard facts.hasTable("background_jobs") else { return }
                let archive = rule.condition("j", now: options.now, ahead: options.ahead)
                let now = rule.condition("j", now: options.now)
                plan.archivedJobs = try db.scalar("SELECT count(*) FROM background_jobs j WHERE \(archive)").int64 ?? 0
                plan.archived = [
                    .init(name: "background_jobs", rows: plan.archivedJobs),
                    .init(name: "sessions", rows: try db.scalar("SELECT count(DISTINCT session_id) FROM background_jobs j WHERE \(archive)").int64 ?? 0),
                ]
                plan.toDelete["background_jobs"] = try db.scalar("SELECT count(*) FROM background_jobs j WHERE \(now)").int64 ?? 0
                if facts.hasTable("terminal_sessions"), try DatabaseFacts.columns(of: "terminal_sessions", in: db).contains("job_id") {
                    let terminals = "FROM terminal_sessions t WHERE t.job_id IN (SELECT j.id FROM background_jobs j WHERE \(now))"
                    plan.toDelete["terminal_sessions"] = try db.scalar("SELECT count(*) \(terminals)").int64 ?? 0
                    plan.outputLogBytes = try db.scalar("SELECT coalesce(sum(length(CAST(t.output_log AS BLOB))), 0) \(terminals)").int64 ?? 0
                    plan.archived.append(.init(name: "terminal_sessions", rows: try db.scalar(
                        "SELECT count(*) FROM terminal_sessions t WHERE t.job_id IN (SELECT j.id FROM background_jobs j WHERE \(archive))").int64 ?? 0))
                }
                if options.sessionsOlderThan != nil, facts.hasTable("sessions") {
                    let whole = JobSelection(rule: rule, ahead: nil, now: options.now, sessionsOlderThan: options.sessionsOlderThan)
                    let sessions = try db.scalar("SELECT count(*) FROM sessions s WHERE \(whole.wholeSessionCondition("s", schemaName: "main"))").int64 ?? 0
                    plan.toDelete["sessions"] = sessions
                    plan.archivedJobs += sessions
                }
                let range = try db.rows("SELECT min(\(Timestamp.secondsSQL("j.created_at"))), max(\(Timestamp.secondsSQL("j.created_at"))) FROM background_jobs j WHERE \(now)")
                plan.oldest = range.first?[0].int64.map { Timestamp.iso8601(seconds: $0) }
                plan.newest = range.first?[1].int64.map { Timestamp.iso8601(seconds: $0) }
            }
            return (rule, plan)
        } catch {
            throw BackupError.sqlite(error, "reading what the app's cleanup would delete", path: path)
        }
    }

    struct Deletion {
        var deleted: [String: Int64] = [:]
        var skipped: [String] = []
        var lockHeldMilliseconds: Double = 0
        var reclaimableBytes: Int64 = 0
    }

    /// Deletes from `path` the jobs of the verified archive copy `archivedDatabase` that the rule selects
    /// now and that are unchanged (same `updated_at` and status); their terminal sessions go by cascade.
    func delete(archivedDatabase: String, from path: String, rule: CleanupRule, options: CleanupOptions) throws -> Deletion {
        var deletion = Deletion()
        do {
            let db = try Connection(path: path, mode: .readWrite, busyTimeout: options.busyTimeout)
            defer { try? db.close() }
            try db.execute("PRAGMA foreign_keys=ON") // the schema's cascades take the terminals
            try db.attach(archivedDatabase, as: "arch", readOnly: true)
            let clock = ContinuousClock()
            var held = Duration.zero
            try db.inTransaction(.immediate) {
                let started = clock.now
                defer { held = clock.now - started }
                try db.execute("CREATE TEMP TABLE ptc_delete (id TEXT PRIMARY KEY)")
                try db.execute("""
                    INSERT INTO temp.ptc_delete SELECT m.id FROM arch.background_jobs a JOIN main.background_jobs m ON m.id = a.id
                    WHERE m.updated_at IS a.updated_at AND m.status IS a.status AND \(rule.condition("m", now: options.now))
                    """)
                deletion.skipped = try db.rows("""
                    SELECT a.id FROM arch.background_jobs a WHERE \(rule.condition("a", now: options.now))
                    AND a.id NOT IN (SELECT id FROM temp.ptc_delete) ORDER BY a.id
                    """).compactMap { $0[0].string }
                let tables = try db.schemaObjects().filter { $0.type == "table" && Self.sessionData.contains($0.name) }.map(\.name)
                func totals() throws -> [String: Int64] {
                    try Dictionary(uniqueKeysWithValues: tables.map { ($0, try db.scalar("SELECT count(*) FROM main.\(DatabaseFacts.quote($0))").int64 ?? 0) })
                }
                let before = try totals()
                try db.execute("DELETE FROM main.background_jobs WHERE id IN (SELECT id FROM temp.ptc_delete)")
                if options.sessionsOlderThan != nil, tables.contains("sessions") {
                    // Whole sessions as archived, still untouched, with no job the archive lacks.
                    let whole = JobSelection(rule: rule, ahead: nil, now: options.now, sessionsOlderThan: options.sessionsOlderThan)
                    try db.execute("""
                        DELETE FROM main.sessions WHERE id IN (SELECT m.id FROM arch.sessions a JOIN main.sessions m ON m.id = a.id
                        WHERE m.updated_at IS a.updated_at AND \(whole.wholeSessionCondition("m", schemaName: "main"))
                        AND NOT EXISTS (SELECT 1 FROM main.background_jobs j WHERE j.session_id = m.id
                                        AND j.id NOT IN (SELECT id FROM arch.background_jobs)))
                        """)
                }
                let after = try totals()
                for table in tables where before[table] != after[table] {
                    deletion.deleted[table] = (before[table] ?? 0) - (after[table] ?? 0)
                }
                try db.execute("DROP TABLE temp.ptc_delete")
                return .commit
            }
            deletion.lockHeldMilliseconds = Double(held.components.seconds) * 1000 + Double(held.components.attoseconds) / 1e15
            try db.detach("arch")
            let free = try db.scalar("PRAGMA freelist_count").int64 ?? 0
            deletion.reclaimableBytes = free * (try db.scalar("PRAGMA page_size").int64 ?? 4096)
        } catch {
            throw BackupError.sqlite(error, "deleting the archived jobs", path: path)
        }
        return deletion
    }

    static func sha256(of path: String) throws -> String {
        let hasher = SHA256()
        try FileSystem.readChunks(path, doing: "hashing the archive") { hasher.update($0) }
        return hasher.finalize()
    }
}
