/// The `manifest.json` that opens every archive. Versioned: readers refuse a `formatVersion`
/// they do not know. Its JSON Schema is `Schema/json/manifest.v1.json` (format 2 has the same manifest).
///
/// Format 1: `[head frame][padding][one body frame]`. Format 2 (this version writes it): the body in
/// independent frames of 4 MiB of input and a seek table in zstd's seekable format at the end, so readers
/// decompress on every core; both are plain `.tar.zst` to stock tools, and format 1 stays readable.
public struct Manifest: Codable, Sendable, Equatable {
    public static let currentFormatVersion = 2
    /// The entry name of the manifest inside the archive; it is always the first entry.
    public static let entryName = "manifest.json"
    /// The entry name of the database snapshot inside the archive.
    public static let databaseEntryName = "appdata.db"

    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The whole database.
        case full
        /// Chosen sessions with their jobs.
        case partial
        /// What the app's retention cleanup is about to delete (jobs, their terminals, their parent
        /// sessions' rows), written by `cleanup` before it deletes them: the only copy of those rows.
        case cleanup
    }

    public struct Tool: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public struct Source: Codable, Sendable, Equatable {
        public var host: String
        /// The database's file name (not its full path).
        public var databaseFile: String
        public var appVersion: String?
        public var schemaVersion: String?
        public var sqliteVersion: String
        public var pageSize: Int
        public var pageCount: Int
        public init(host: String, databaseFile: String, appVersion: String?, schemaVersion: String?,
                    sqliteVersion: String, pageSize: Int, pageCount: Int) {
            self.host = host
            self.databaseFile = databaseFile
            self.appVersion = appVersion
            self.schemaVersion = schemaVersion
            self.sqliteVersion = sqliteVersion
            self.pageSize = pageSize
            self.pageCount = pageCount
        }
    }

    /// What a partial export selected; nil for a full export.
    public struct Selection: Codable, Sendable, Equatable {
        public var sessionIDs: [String]
        public var projects: [String]
        public var olderThan: String?
        /// The cut-off used by `olderThan`, in Unix seconds.
        public var cutoff: Int64?
        /// A cleanup archive: the app's rule it applied, in words.
        public var cleanupRule: String?
        /// A cleanup archive: how many jobs it holds.
        public var jobs: Int?
        public init(sessionIDs: [String], projects: [String], olderThan: String?, cutoff: Int64?) {
            self.sessionIDs = sessionIDs
            self.projects = projects
            self.olderThan = olderThan
            self.cutoff = cutoff
        }
    }

    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        public var rows: Int64
        public init(name: String, rows: Int64) {
            self.name = name
            self.rows = rows
        }
    }

    public struct Session: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var projectDirectory: String
        public var jobs: Int64
        /// ISO 8601 UTC; milliseconds in the source are recognised and converted.
        public var createdAt: String?
        public var updatedAt: String?
        /// Terminal sessions of the session's jobs. Absent in archives written before it existed.
        public var terminals: Int64?
        /// Bytes of the session's text: its own row's task description and file lists, its jobs' prompts,
        /// responses and metadata, its terminals' output. An estimate of its share of the database.
        /// Absent in archives written before it existed, and in those written with SQLite older than 3.43
        /// (which would read all the text to measure it).
        public var bytes: Int64?
        /// The first ``descriptionLimit`` characters of the task description (what `sessions --search`
        /// reads in an archive). Absent in archives written before it existed.
        public var taskDescription: String?

        /// How much of a task description a manifest keeps.
        public static let descriptionLimit = 500

        public init(id: String, name: String, projectDirectory: String, jobs: Int64, createdAt: String?, updatedAt: String?,
                    terminals: Int64? = nil, bytes: Int64? = nil, taskDescription: String? = nil) {
            self.id = id
            self.name = name
            self.projectDirectory = projectDirectory
            self.jobs = jobs
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.terminals = terminals
            self.bytes = bytes
            self.taskDescription = taskDescription
        }

        /// The session with its task description cut to ``descriptionLimit`` characters.
        public var shortened: Session {
            guard let text = taskDescription, text.count > Self.descriptionLimit else { return self }
            var copy = self
            copy.taskDescription = String(text.prefix(Self.descriptionLimit))
            return copy
        }
    }

    /// Rows of the source that break a foreign key (`PRAGMA foreign_key_check`), per table and parent:
    /// the database's own faults, carried as they were so that a restore reproduces it.
    public struct ForeignKeyViolations: Codable, Sendable, Equatable, Hashable {
        public var table: String
        public var parent: String
        public var rows: Int64
        public init(table: String, parent: String, rows: Int64) {
            self.table = table
            self.parent = parent
            self.rows = rows
        }
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String
        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    public var formatVersion: Int
    public var tool: Tool
    /// ISO 8601 UTC, e.g. `2026-11-27T01:02:03Z`.
    public var createdAt: String
    public var kind: Kind
    public var source: Source
    public var selection: Selection?
    public var tables: [Table]
    /// Tables of the source left out of a partial archive (unrelated to sessions, or unknown).
    public var skippedTables: [String]
    public var sessions: [Session]
    public var entries: [Entry]
    /// Foreign key violations the source already had; absent (or empty) when it had none.
    public var foreignKeyViolations: [ForeignKeyViolations]?
    /// `--redact-env`: secret-looking environment variables replaced in the archive; absent otherwise.
    public var redactedEnvironment: EnvironmentRedaction?
    /// Variables in `terminal_sessions.environment_vars` whose names look secret (as `--redact-env` matches
    /// them) and whose values the archive holds; absent when none (or from a version that did not count).
    public var secretEnvironmentVariables: Int?

    /// What `--redact-env` replaced with `"<redacted>"` in `terminal_sessions.environment_vars`.
    public struct EnvironmentRedaction: Codable, Sendable, Equatable {
        /// The name patterns, case-insensitive (`*KEY*`, ...).
        public var patterns: [String]
        /// Rows changed.
        public var rows: Int
        /// Values replaced.
        public var variables: Int

        public init(patterns: [String], rows: Int, variables: Int) {
            self.patterns = patterns
            self.rows = rows
            self.variables = variables
        }
    }

    public init(formatVersion: Int = Manifest.currentFormatVersion, tool: Tool, createdAt: String, kind: Kind,
                source: Source, selection: Selection?, tables: [Table], skippedTables: [String],
                sessions: [Session], entries: [Entry]) {
        self.formatVersion = formatVersion
        self.tool = tool
        self.createdAt = createdAt
        self.kind = kind
        self.source = source
        self.selection = selection
        self.tables = tables
        self.skippedTables = skippedTables
        self.sessions = sessions
        self.entries = entries
    }

    /// Violations the manifest declares for `table` → `parent` (0 when none).
    public func declaredViolations(of table: String, parent: String) -> Int64 {
        foreignKeyViolations?.first { $0.table == table && $0.parent == parent }?.rows ?? 0
    }

    public func rows(of table: String) -> Int64? { tables.first { $0.name == table }?.rows }
}

extension Manifest {
    /// One line naming the rows of the source that break foreign keys (the database's own faults), or nil.
    public var foreignKeyWarning: String? {
        guard let violations = foreignKeyViolations, !violations.isEmpty else { return nil }
        let total = violations.reduce(0) { $0 + $1.rows }
        let detail = violations.map { "\($0.table) → \($0.parent): \($0.rows)" }.joined(separator: ", ")
        return "the database holds \(total) row(s) whose parent row is missing (\(detail)); they are kept as they are"
    }
}
