import BackupModel
import BackupSQLite
import Foundation

/// What `sessions` shows: which sessions, newest first.
public struct SessionQuery: Sendable {
    /// Only sessions of this project directory (as `export --project` matches it).
    public var project: String?
    /// Only sessions whose name, task description or project directory contains this, ignoring case.
    public var search: String?
    /// Only sessions updated within this age of `now`.
    public var since: Age?
    /// At most this many (the newest).
    public var limit: Int?
    public var now = Date()

    public init(project: String? = nil, search: String? = nil, since: Age? = nil, limit: Int? = nil) {
        self.project = project
        self.search = search
        self.since = since
        self.limit = limit
    }

    /// `sessions` filtered, newest first (by updated time, then created time, then id), cut to `limit`.
    public func apply(_ sessions: [Manifest.Session]) -> [Manifest.Session] {
        let project = self.project.map(SessionSelection.normalise)
        let cutoff = since.map { Timestamp.iso8601(seconds: Int64(now.timeIntervalSince1970) - $0.seconds) }
        let needle = search?.trimmingCharacters(in: .whitespaces)
        let kept = sessions.filter { session in
            if let project, SessionSelection.normalise(session.projectDirectory) != project { return false }
            // ISO 8601 UTC texts of one format sort as their times do.
            if let cutoff, (session.updatedAt ?? session.createdAt ?? "") < cutoff { return false }
            if let needle, !needle.isEmpty {
                let fields = [session.name, session.taskDescription ?? "", session.projectDirectory]
                guard fields.contains(where: { $0.range(of: needle, options: [.caseInsensitive, .diacriticInsensitive]) != nil }) else { return false }
            }
            return true
        }
        let sorted = kept.sorted { a, b in
            let ka = (a.updatedAt ?? a.createdAt ?? "", a.createdAt ?? ""), kb = (b.updatedAt ?? b.createdAt ?? "", b.createdAt ?? "")
            return ka != kb ? ka > kb : a.id < b.id
        }
        return limit.map { Array(sorted.prefix($0)) } ?? sorted
    }
}

/// Lists the sessions of a live database (read-only, no lock the app would notice), of an archive (from its
/// manifest only) or of a remote archive (downloaded into a private temporary folder, since stores fetch
/// whole objects, then read the same way).
public struct SessionListing: Sendable {
    public var environment: [String: String]
    public var busyTimeout: Int32 = 5000
    /// What opens an encrypted archive.
    public var keys = ArchiveKeys.none

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The sessions of the database `--db`, `PLANTOCODE_DB` or the app's data folder holds.
    ///
    /// The database is opened read-only as `export` opens it, and read in one read transaction: in WAL
    /// mode the app's writers never wait for it.
    /// - Throws: ``BackupError``.
    public func database(_ explicit: String?, query: SessionQuery) throws(BackupError) -> SessionsReport {
        try BackupError.atBoundary("listing the sessions") {
            let path = try DatabaseLocator(environment: environment).locate(explicit: explicit)
            var snapshotter = Snapshotter(sourcePath: path, busyTimeout: busyTimeout, pagesPerStep: 1, progress: nil)
            let source = try snapshotter.openSource()
            let all: [Manifest.Session]
            do {
                all = try source.withReadTransaction {
                    try DatabaseFacts.sessionSummaries(source, facts: try DatabaseFacts(connection: source), descriptionLimit: nil,
                                                      measuringBytes: true)
                }
                try source.close()
            } catch {
                throw BackupError.sqlite(error, "reading the sessions", path: path)
            }
            return report(all, query: query, database: path, archive: nil)
        }
    }

    /// The sessions an archive's manifest lists (nothing else of the archive is read).
    /// - Throws: ``BackupError``.
    public func archive(_ path: String, query: SessionQuery) throws(BackupError) -> SessionsReport {
        try BackupError.atBoundary("listing the sessions") {
            report(try ArchiveContents.manifest(of: path, keys: keys).sessions, query: query, database: nil, archive: path)
        }
    }

    /// The sessions of the archive at the URL `remote`, downloaded whole into a private temporary folder
    /// (removed afterwards): the stores have no ranged reads yet.
    /// - Throws: ``BackupError``.
    public func remote(_ remote: String, transfers: Transfers, query: SessionQuery) throws(BackupError) -> SessionsReport {
        try BackupError.atBoundary("listing the sessions") {
            let sessions = try transfers.withDownload(remote, environment: environment) { try ArchiveContents.manifest(of: $0, keys: keys).sessions }
            return report(sessions, query: query, database: nil, archive: remote)
        }
    }

    private func report(_ all: [Manifest.Session], query: SessionQuery, database: String?, archive: String?) -> SessionsReport {
        SessionsReport(database: database, archive: archive, sessions: query.apply(all).map(\.shortened),
                       totalSessionCount: all.count, idPrefixLength: SessionIDs.uniquePrefixLength(all.map(\.id)))
    }
}
