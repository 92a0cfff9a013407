import Foundation
/// The `--json` document every command prints on stdout: one ``Report`` envelope around the command's own
/// result. Its JSON Schema is `Schema/json/report.v2.json` (`report.v1.json` describes the documents of
/// version 1, which had no envelope).
public enum ReportSchema {
    public static let version = 2

    /// The name of an exit code, for `error.code`: the sysexits meaning (`usage`, `noInput`, ...).
    public static func codeName(_ exitCode: Int32) -> String {
        switch exitCode {
        case 0: "ok"
        case 64: "usage"
        case 65: "dataError"
        case 66: "noInput"
        case 69: "unavailable"
        case 70: "software"
        case 73: "cantCreate"
        case 74: "ioError"
        case 75: "temporaryFailure"
        case 77: "noPermission"
        case 78: "config"
        case 129...192: "interrupted"
        default: "failure"
        }
    }
}

/// The envelope of every `--json` document: the same keys for every command, on success and on failure.
/// `result` is the command's own report (null when the command failed before it had one); `error` is
/// null on success; `warnings` are what the user should know though nothing failed (also written to stderr).
public struct Report<Result: Codable & Sendable>: Codable, Sendable {
    public struct Failure: Codable, Sendable, Equatable {
        /// ``ReportSchema/codeName(_:)`` of the exit code.
        public var code: String
        /// The one line also written to stderr.
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var schemaVersion = ReportSchema.version
    public var command: String
    public var ok: Bool
    public var exitCode: Int32
    public var error: Failure?
    public var warnings: [String]
    public var result: Result?

    /// A success (`failure` nil) or a failure with the exit code and message given.
    public init(command: String, result: Result?, warnings: [String] = [], failure: (exitCode: Int32, message: String)? = nil) {
        self.command = command
        self.result = result
        self.warnings = warnings
        self.ok = failure == nil
        self.exitCode = failure?.exitCode ?? 0
        self.error = failure.map { Failure(code: ReportSchema.codeName($0.exitCode), message: $0.message) }
    }

    enum CodingKeys: String, CodingKey { case schemaVersion, command, ok, exitCode, error, warnings, result }

    /// Writes `error` and `result` as `null` when absent (every key is always there).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(command, forKey: .command)
        try container.encode(ok, forKey: .ok)
        try container.encode(exitCode, forKey: .exitCode)
        try container.encode(error, forKey: .error)
        try container.encode(warnings, forKey: .warnings)
        try container.encode(result, forKey: .result)
    }
}

/// The `result` of a command that failed before it had one (always null).
public struct NoResult: Codable, Sendable {
    public init() {}
}

/// `export`: the archive written (or, with `dryRun`, what it would hold).
public struct ExportReport: Codable, Sendable {
    /// The database read.
    public var database: String
    /// The archive written, or nil when nothing matched the selection (and always with `dryRun`).
    public var archive: String?
    public var kind: Manifest.Kind?
    /// The archive's size; with `dryRun`, nil (see `estimatedBytes`).
    public var bytes: Int64?
    public var dryRun = false
    /// With `dryRun`: about how large the archive would be (the selected rows' pages, compressed as
    /// typical PlanToCode databases compress at the chosen level). An estimate, never a promise.
    public var estimatedBytes: Int64?
    /// The sessions in the archive (or that would be).
    public var sessions: [Manifest.Session]
    public var sessionCount: Int
    /// Rows per table in the archive (or that would be).
    public var tables: [Manifest.Table]
    public var skippedTables: [String]
    public var seconds: Double
    public var message: String?
    /// With `--to`: where the archive was uploaded (the remote folder and the object's name).
    public var uploadedTo: String?

    public init(database: String, archive: String?, kind: Manifest.Kind?, bytes: Int64?, sessions: [Manifest.Session],
                tables: [Manifest.Table], skippedTables: [String], seconds: Double, message: String?) {
        self.database = database
        self.archive = archive
        self.kind = kind
        self.bytes = bytes
        self.sessions = sessions
        self.sessionCount = sessions.count
        self.tables = tables
        self.skippedTables = skippedTables
        self.seconds = seconds
        self.message = message
    }
}

public struct InspectReport: Codable, Sendable {
    public var archive: String
    public var bytes: Int64
    /// The manifest's sessions (as in `manifest`), with their count beside them as in every report.
    public var sessions: [Manifest.Session]
    public var sessionCount: Int
    public var manifest: Manifest

    public init(archive: String, bytes: Int64, manifest: Manifest) {
        self.archive = archive
        self.bytes = bytes
        self.sessions = manifest.sessions
        self.sessionCount = manifest.sessions.count
        self.manifest = manifest
    }
}

public struct VerifyReport: Codable, Sendable {
    public var archive: String
    /// One line per problem found; empty when the archive passed (the envelope's `ok`).
    public var problems: [String]
    public var entries: [Manifest.Entry]
    public var tables: [Manifest.Table]

    public init(archive: String, problems: [String], entries: [Manifest.Entry], tables: [Manifest.Table]) {
        self.archive = archive
        self.problems = problems
        self.entries = entries
        self.tables = tables
    }
}

public struct ListReport: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var name: String
        public var bytes: Int64
        public var createdAt: String?
        public var kind: Manifest.Kind?
        /// Sessions in the archive (from its manifest; nil for a remote folder, whose manifests are not read).
        public var sessionCount: Int?
        public var host: String?
        public var appVersion: String?
        /// Set when the archive's manifest could not be read.
        public var problem: String?

        public init(name: String, bytes: Int64, createdAt: String?, kind: Manifest.Kind?, sessionCount: Int?,
                    host: String?, appVersion: String?, problem: String?) {
            self.name = name
            self.bytes = bytes
            self.createdAt = createdAt
            self.kind = kind
            self.sessionCount = sessionCount
            self.host = host
            self.appVersion = appVersion
            self.problem = problem
        }
    }

    /// The folder or remote folder listed.
    public var location: String
    public var archives: [Item]

    public init(location: String, archives: [Item]) {
        self.location = location
        self.archives = archives
    }
}

public struct ImportReport: Codable, Sendable {
    public var mode: String
    public var archive: String
    /// The database imported into.
    public var database: String
    public var dryRun: Bool
    /// The archive the target's previous content was saved to, when it had any.
    public var safetyArchive: String?
    /// Migrations applied to the archive's database on the way in.
    public var migrations: [String]
    /// The archive's sessions.
    public var sessions: [Manifest.Session]
    public var sessionCount: Int
    /// Sessions the target held before (all replaced by a restore).
    public var replacedSessionCount: Int
    /// Row counts of the target after the import (or, with `dryRun`, what they would be).
    public var tables: [Manifest.Table]
    /// For `--mode merge`: what was added, updated, skipped.
    public var merge: MergeSummary?
    /// What the user should know though nothing failed (a restore that brings back rows breaking
    /// foreign keys, orphans a merge left out, ...): the envelope's `warnings`, not part of this result.
    public var warnings: [String] = []

    enum CodingKeys: String, CodingKey {
        case mode, archive, database, dryRun, safetyArchive, migrations, sessions, sessionCount, replacedSessionCount, tables, merge
    }

    public struct MergeSummary: Codable, Sendable {
        public var onConflict: String
        public var sessionsAdded: [String]
        public var sessionsUpdated: [String]
        public var sessionsSkipped: [String]
        public var rowsInserted: [String: Int64]
        public var rowsUpdated: [String: Int64]
        public var invalidRowsSkipped: [String]
        public var tablesNotMerged: [String]
        public var remapped: [String: String]
        public var targetMigrations: [String]
        /// Archive columns the target's tables no longer have (`table.column`, from older app versions).
        public var columnsNotMerged: [String] = []
        /// Archive rows whose parent row is missing in the archive itself: left out, one line each.
        public var orphansLeftOut: [String] = []

        public init(onConflict: String, sessionsAdded: [String], sessionsUpdated: [String], sessionsSkipped: [String],
                    rowsInserted: [String: Int64], rowsUpdated: [String: Int64], invalidRowsSkipped: [String],
                    tablesNotMerged: [String], remapped: [String: String], targetMigrations: [String]) {
            self.onConflict = onConflict
            self.sessionsAdded = sessionsAdded
            self.sessionsUpdated = sessionsUpdated
            self.sessionsSkipped = sessionsSkipped
            self.rowsInserted = rowsInserted
            self.rowsUpdated = rowsUpdated
            self.invalidRowsSkipped = invalidRowsSkipped
            self.tablesNotMerged = tablesNotMerged
            self.remapped = remapped
            self.targetMigrations = targetMigrations
        }
    }

    public init(mode: String, archive: String, database: String, dryRun: Bool, safetyArchive: String?, migrations: [String],
                sessions: [Manifest.Session], replacedSessionCount: Int, tables: [Manifest.Table]) {
        self.mode = mode
        self.archive = archive
        self.database = database
        self.dryRun = dryRun
        self.safetyArchive = safetyArchive
        self.migrations = migrations
        self.sessions = sessions
        self.sessionCount = sessions.count
        self.replacedSessionCount = replacedSessionCount
        self.tables = tables
    }
}

public struct MigrateReport: Codable, Sendable {
    public var database: String
    public var applied: [String]
    public var notApplicable: [String]
    public var safetyArchive: String?
    public var dryRun: Bool

    public init(database: String, applied: [String], notApplicable: [String], safetyArchive: String?, dryRun: Bool) {
        self.database = database
        self.applied = applied
        self.notApplicable = notApplicable
        self.safetyArchive = safetyArchive
        self.dryRun = dryRun
    }
}

/// What `cleanup` did (or, with `dryRun`, would do).
public struct CleanupReport: Codable, Sendable {
    public var database: String
    /// The app's rule that was applied, in words, with where its days came from.
    public var rule: String
    public var dryRun: Bool
    /// The cleanup archive written, or nil (dry run, nothing matched).
    public var archive: String?
    /// With `--to`: the archive's URL, after its SHA-256 was checked there.
    public var uploadedTo: String?
    /// Rows in the archive (jobs, their terminals, their sessions), or with `dryRun`, that it would hold.
    public var archived: [Manifest.Table] = []
    /// Rows the rule selects now (deleted unless `--no-delete`), per table.
    public var toDelete: [String: Int64] = [:]
    /// Rows deleted, per table (terminals by cascade).
    public var deleted: [String: Int64] = [:]
    /// Archived jobs that changed (or went) before the delete, left as they are.
    public var skippedChanged: [String] = []
    /// Oldest and newest `created_at` (ISO 8601 UTC) of the jobs to delete.
    public var oldestJob: String?
    public var newestJob: String?
    /// Terminal output (`output_log`) of the jobs to delete, in bytes.
    public var outputLogBytes: Int64 = 0
    /// Free pages the database holds after the delete, in bytes (`VACUUM` would give them back).
    public var reclaimableBytes: Int64?
    /// How long the delete held the write lock.
    public var lockHeldMilliseconds: Double?
    public var seconds: Double = 0
    public var message: String?

    public init(database: String, rule: String, dryRun: Bool) {
        self.database = database
        self.rule = rule
        self.dryRun = dryRun
    }

    /// The report with its duration since `started`.
    public func finished(_ started: Date) -> CleanupReport {
        var report = self
        report.seconds = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
        return report
    }
}

/// `prune`: every archive looked at with its decision, what was left alone, and the leftovers of
/// interrupted uploads. A run that fails halfway still reports (with `stoppedBy` and `exitCode`): the archives
/// with `deleted` true are gone, every other one is intact.
public struct PruneReport: Codable, Sendable {
    public struct Archive: Codable, Sendable, Equatable {
        public var name: String
        public var host: String
        public var kind: String
        /// The time in the name, ISO 8601 UTC.
        public var time: String
        public var bytes: Int64
        public var keep: Bool
        /// The rules that keep it (`daily 3`, `weekly 1`, `within 30d`); empty when it goes.
        public var reasons: [String]
        /// Whether this run deleted it (never with `dryRun`).
        public var deleted: Bool

        public init(name: String, host: String, kind: String, time: String, bytes: Int64, keep: Bool, reasons: [String], deleted: Bool) {
            self.name = name
            self.host = host
            self.kind = kind
            self.time = time
            self.bytes = bytes
            self.keep = keep
            self.reasons = reasons
            self.deleted = deleted
        }
    }

    /// A name left alone: not an archive's, or outside `--kind`/`--host`.
    public struct Ignored: Codable, Sendable, Equatable {
        public var name: String
        public var reason: String

        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
    }

    /// What an interrupted run or upload left: a temporary file or object, or an S3 multipart upload.
    public struct Leftover: Codable, Sendable, Equatable {
        public var name: String
        /// `temporary` or `multipartUpload`.
        public var kind: String
        public var bytes: Int64
        /// When it was last written (an upload: started), ISO 8601 UTC, when known.
        public var since: String?
        /// Whether this run removed it (never with `dryRun`).
        public var removed: Bool

        public init(name: String, kind: String, bytes: Int64, since: String?, removed: Bool) {
            self.name = name
            self.kind = kind
            self.bytes = bytes
            self.since = since
            self.removed = removed
        }
    }

    public var location: String
    /// The rules as flags, e.g. `--keep-daily 7 --keep-weekly 4`.
    public var policy: String
    public var dryRun: Bool
    /// Grouped by host and kind, newest first in each group.
    public var archives: [Archive]
    public var ignored: [Ignored]
    /// Leftovers older than 24 hours (removed unless `dryRun`).
    public var leftovers: [Leftover]
    /// Set when the run stopped on a failure (the envelope's error); the archives marked `deleted` are
    /// gone, the rest intact.
    public var stoppedBy: String?

    public init(location: String, policy: String, dryRun: Bool, archives: [Archive], ignored: [Ignored], leftovers: [Leftover]) {
        self.location = location
        self.policy = policy
        self.dryRun = dryRun
        self.archives = archives
        self.ignored = ignored
        self.leftovers = leftovers
    }
}

/// What `run PROFILE` did: each step with its exit code and one line, the archives written, the remote
/// copies checked, and the notifications sent. The run's exit code is the worst step's.
public struct RunReport: Codable, Sendable {
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var exitCode: Int32
        public var summary: String
        public var seconds: Double
        public init(name: String, exitCode: Int32, summary: String, seconds: Double) {
            self.name = name
            self.exitCode = exitCode
            self.summary = summary
            self.seconds = (seconds * 1000).rounded() / 1000
        }
    }

    public var profile: String
    public var steps: [Step] = []
    public var archives: [String] = []
    public var uploaded: [String] = []
    public var notified: [String] = []
    public var seconds: Double = 0
    /// The worst step's exit code (0 when every step succeeded); the envelope's too. Kept here because this
    /// report is also the record of the last run (`schedule list`).
    public var exitCode: Int32 = 0
    public var ok = true

    public init(profile: String) { self.profile = profile }

    /// The report with its duration since `started` and its outcome.
    public func finished(_ started: Date) -> RunReport {
        var report = self
        report.seconds = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
        report.exitCode = steps.map(\.exitCode).max() ?? 0
        report.ok = report.exitCode == 0
        return report
    }
}

/// `sessions`: the sessions of a database, an archive or a remote archive, newest first.
public struct SessionsReport: Codable, Sendable {
    /// The database read (a live database), or nil.
    public var database: String?
    /// The archive read (a path or a URL), or nil.
    public var archive: String?
    /// Sessions shown (after --project, --search, --since and --limit), newest first.
    public var sessions: [Manifest.Session]
    public var sessionCount: Int
    /// Sessions in the database or archive before any filter.
    public var totalSessionCount: Int
    /// The length at which every session id of the source has a prefix of its own (8 or more): what
    /// the text listing shows, and what any command accepts for an id.
    public var idPrefixLength: Int

    public init(database: String?, archive: String?, sessions: [Manifest.Session], totalSessionCount: Int, idPrefixLength: Int) {
        self.database = database
        self.archive = archive
        self.sessions = sessions
        self.sessionCount = sessions.count
        self.totalSessionCount = totalSessionCount
        self.idPrefixLength = idPrefixLength
    }
}
