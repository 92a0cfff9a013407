import BackupModel
import BackupSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Takes consistent copies of a live database into a new file, without ever writing to the source.
///
/// The source is opened read-only. A full copy goes through the online backup API under one read
/// transaction, so commits of the running app neither restart nor block it; a partial copy attaches the
/// source read-only and copies the selected rows inside one transaction, so every table is read at the
/// same point in time.
struct Snapshotter {
    let sourcePath: String
    let busyTimeout: Int32
    let pagesPerStep: Int32
    /// Hears the backup's steps as ``ProgressEvent/Phase/snapshot`` bytes; nil in a one-pass export, whose
    /// compressor reports instead.
    var progress: ProgressHandler?
    /// Set by ``openSource()`` when the source had to be opened `immutable=1`: the main file as it was
    /// then, checked again when a snapshot is finished.
    private(set) var immutableSource: FileStamp?

    init(sourcePath: String, busyTimeout: Int32, pagesPerStep: Int32, progress: ProgressHandler?) {
        self.sourcePath = sourcePath
        self.busyTimeout = busyTimeout
        self.pagesPerStep = pagesPerStep
        self.progress = progress
    }

    /// Opens the source read-only and checks that it is an SQLite database we can read now.
    ///
    /// The source is opened by a `file:` URI (`mode=ro`), and a partial snapshot attaches that same URI.
    /// Reading a WAL database takes write access to its folder, where SQLite creates (or locks) the `-shm`
    /// file. In a folder this user can only read:
    /// - with no `-wal` file, the main file holds every commit and the app is not running (it keeps the
    ///   `-wal` while it has the database open), so the database is opened with `immutable=1`: no locks
    ///   and no `-shm`. Should the main file or a `-wal` change before the snapshot is finished (the app
    ///   started meanwhile), the export fails with `temporaryFailure` rather than archive a torn copy;
    /// - with a `-wal` file, commits may sit in it that only a reader with a `-shm` can see:
    ///   `noPermission`, saying why and what to do.
    /// - Throws: ``BackupError``.
    mutating func openSource() throws -> Connection {
        let uri = Connection.fileURI(sourcePath, readOnly: true)
        do {
            return try Self.connect(uri, busyTimeout: busyTimeout)
        } catch {
            guard Self.isWAL(sourcePath), !Self.folderIsWritable(of: sourcePath) else {
                throw BackupError.sqlite(error, "opening the database", path: sourcePath)
            }
            let folder = Self.folder(of: sourcePath)
            if FileSystem.exists(sourcePath + "-wal") {
                throw BackupError(.noPermission, "opening the database: \(sourcePath)-wal exists but the folder \(folder) is read-only to this user: SQLite cannot read a WAL database without write access to create its -shm file; copy the folder, or run as its owner", cause: error)
            }
            let stamp = FileStamp(sourcePath)
            let connection: Connection
            do {
                connection = try Self.connect(uri + "&immutable=1", busyTimeout: busyTimeout)
            } catch {
                throw BackupError.sqlite(error, "opening the database (immutable, its folder is read-only)", path: sourcePath)
            }
            immutableSource = stamp
            return connection
        }
    }

    private static func connect(_ uri: String, busyTimeout: Int32) throws(SQLiteError) -> Connection {
        let connection = try Connection(path: uri, mode: .readOnly, busyTimeout: busyTimeout)
        _ = try connection.scalar("SELECT count(*) FROM sqlite_schema")
        return connection
    }

    /// Whether the file's header says WAL mode (bytes 18 and 19, the read and write versions, are 2).
    static func isWAL(_ path: String) -> Bool {
        guard let file = try? FileSystem.openForReading(path, doing: "reading the database header") else { return false }
        defer { try? file.close() }
        var header = [UInt8](repeating: 0, count: 20)
        let n = header.withUnsafeMutableBytes { try? FileSystem.read(file, into: $0, at: 0, path: path, doing: "reading the database header") }
        return n == 20 && header[18] == 2 && header[19] == 2
    }

    private static func folder(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    private static func folderIsWritable(of path: String) -> Bool {
        access(folder(of: path), W_OK | X_OK) == 0
    }

    /// - Throws: ``BackupError`` `temporaryFailure` when the source was opened `immutable=1` and has
    ///   changed since, or has a `-wal` now: the app started during the export.
    private func checkImmutableSourceUnchanged() throws {
        guard let stamp = immutableSource else { return }
        guard !FileSystem.exists(sourcePath + "-wal"), FileStamp(sourcePath) == stamp else {
            throw BackupError(.temporaryFailure, "taking the snapshot: \(sourcePath) changed while it was read without locks (its folder is read-only; the app opened it meanwhile); try again when the app is closed")
        }
    }

    /// What tells a file's content changed: device, inode, size and modification time.
    struct FileStamp: Equatable {
        var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0, seconds: Int = 0, nanoseconds: Int = 0

        init(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            seconds = Int(st.st_mtim.tv_sec)
            nanoseconds = Int(st.st_mtim.tv_nsec)
        }
    }

    /// Copies the whole database into `destinationPath` (an empty file, or none) with the online backup
    /// API, through the VFS named `vfs` (nil for the default).
    ///
    /// Call it inside a read transaction on `source` (``Connection/withReadTransaction(_:)``): then
    /// step(N) finishes without restarting while the app commits, the copy is the state at `BEGIN`, and
    /// the steps give a progress bar.
    func full(from source: Connection, to destinationPath: String, vfs: String? = nil,
              abortIf shouldAbort: @escaping () -> Bool = { false }) throws {
        do {
            let destination = try Connection(path: destinationPath, mode: .readWriteCreate, busyTimeout: busyTimeout, vfs: vfs)
            try destination.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF")
            let pageSize = progress == nil ? 0 : try source.scalar("PRAGMA page_size").int64 ?? 4096
            try source.backup(to: destination, pagesPerStep: pagesPerStep) { step in
                progress?(ProgressEvent(phase: .snapshot, done: Int64(step.copiedPages) * pageSize, total: Int64(step.totalPages) * pageSize))
                if shouldAbort() { throw BackupError(.ioError, "the snapshot was abandoned because packing it failed") }
            }
            try finish(destination, path: destinationPath)
            try checkImmutableSourceUnchanged()
        } catch let error as SQLiteError {
            throw BackupError.sqlite(error, "taking the snapshot", path: error.context.contains(destinationPath) ? destinationPath : sourcePath)
        }
    }

    /// What a snapshot of some rows takes.
    enum RowSelection {
        /// Whole sessions with everything under them (a partial export).
        case sessions(SessionSelection, now: Date)
        /// Chosen jobs with their terminal sessions and their parent sessions' rows (a cleanup archive).
        case jobs(JobSelection)
    }

    /// Copies the selected rows and their dependants into `destinationPath`, keeping the source's own
    /// DDL. Returns nil when nothing matches (and removes what it created).
    func partial(from source: Connection, selection: RowSelection, to destinationPath: String) throws -> PartialResult? {
        let destination: Connection
        do {
            destination = try Connection(path: destinationPath, mode: .readWriteCreate, busyTimeout: busyTimeout)
        } catch {
            throw BackupError.sqlite(error, "creating the snapshot", path: destinationPath)
        }
        do {
            let pageSize = try source.scalar("PRAGMA page_size").int64 ?? 4096
            try destination.execute("PRAGMA page_size=\(pageSize); PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF")
            try destination.attach(source.path, as: "src", readOnly: true)  // the URI openSource() used
            var selected = 0
            var facts: DatabaseFacts?
            var copied: Set<String> = []
            try destination.inTransaction {
                let found = try DatabaseFacts(connection: destination, schemaName: "src")
                facts = found
                switch selection {
                case .sessions(let sessions, let now):
                    selected = try sessions.resolve(in: destination, schemaName: "src", facts: found, now: now)
                case .jobs(let jobs):
                    selected = try jobs.resolve(in: destination, schemaName: "src", facts: found)
                }
                guard selected > 0 else { return .rollback }
                copied = try copySelected(destination, facts: found, wholeSessions: { if case .sessions = selection { true } else { false } }())
                return .commit
            }
            guard selected > 0, let facts else {
                try destination.detach("src")
                try destination.close()
                return nil
            }
            for pragma in ["user_version", "application_id"] {
                let value = try destination.scalar("PRAGMA src.\(pragma)").int64 ?? 0
                try destination.execute("PRAGMA main.\(pragma)=\(value)")
            }
            try destination.detach("src")
            try finish(destination, path: destinationPath)
            try checkImmutableSourceUnchanged()
            return PartialResult(selected: selected, skippedTables: facts.tables.filter { !copied.contains($0) })
        } catch {
            throw BackupError.sqlite(error, "copying the selected sessions", path: sourcePath)
        }
    }

    struct PartialResult {
        /// Sessions, or for a cleanup archive jobs, selected.
        let selected: Int
        let skippedTables: [String]
    }

    /// Tables a partial archive carries whole: small, and needed to restore or migrate it.
    static let wholeTables: Set<String> = ["key_value_store", "migrations", "app_settings"]

    /// Creates the source's tables, copies the selected rows, then creates indexes, triggers and views:
    /// `temp.ptc_selected` sessions with everything under them (`wholeSessions`), or `temp.ptc_jobs` with
    /// their terminals and their sessions' rows only. Returns the names of the tables that received rows.
    private func copySelected(_ db: Connection, facts: DatabaseFacts, wholeSessions: Bool) throws -> Set<String> {
        for object in facts.objects where object.type == "table" && !object.name.hasPrefix("sqlite_") {
            guard let sql = object.sql else { continue }
            try db.execute(sql)
        }
        let q = DatabaseFacts.quote
        func has(_ table: String, _ column: String) throws -> Bool {
            guard facts.hasTable(table) else { return false }
            return try DatabaseFacts.columns(of: table, in: db, schemaName: "src").contains(column)
        }
        var filters: [(String, String)] = []
        if facts.hasTable("sessions") {
            filters.append(("sessions", "id IN (SELECT id FROM temp.ptc_selected)"))
        }
        if try has("background_jobs", "session_id") {
            filters.append(("background_jobs", wholeSessions ? "session_id IN (SELECT id FROM temp.ptc_selected)" : "id IN (SELECT id FROM temp.ptc_jobs)"))
        }
        if try has("terminal_sessions", "job_id"), facts.hasTable("background_jobs") {
            filters.append(("terminal_sessions", "job_id IN (SELECT id FROM main.background_jobs)"))
        }
        for history in ["task_description_history", "file_selection_history"] where try has(history, "session_id") {
            // A cleanup archive carries histories only of the sessions it takes whole.
            filters.append((history, wholeSessions ? "session_id IN (SELECT id FROM temp.ptc_selected)" : "session_id IN (SELECT id FROM temp.ptc_whole)"))
        }
        if try wholeSessions && has("project_system_prompts", "project_hash"), try has("sessions", "project_hash") {
            filters.append(("project_system_prompts", "project_hash IN (SELECT project_hash FROM main.sessions)"))
        }
        for table in facts.tables where Self.wholeTables.contains(table) {
            filters.append((table, "1"))
        }
        var copied: Set<String> = []
        for (table, condition) in filters {
            try db.execute("INSERT INTO main.\(q(table)) SELECT * FROM src.\(q(table)) WHERE \(condition)")
            copied.insert(table)
        }
        if facts.objects.contains(where: { $0.name == "sqlite_sequence" }) {
            let names = copied.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ",")
            if try db.scalar("SELECT count(*) FROM main.sqlite_schema WHERE name = 'sqlite_sequence'").int64 ?? 0 > 0 {
                try db.execute("INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence WHERE name IN (\(names))")
            }
        }
        for object in facts.objects where ["index", "trigger", "view"].contains(object.type) {
            guard let sql = object.sql else { continue } // automatic indexes of UNIQUE/PRIMARY KEY
            try db.execute(sql)
        }
        return copied
    }

    /// Leaves the copy in rollback-journal mode, as a standalone file must be.
    private func finish(_ destination: Connection, path: String) throws {
        let mode = try destination.scalar("PRAGMA journal_mode=DELETE").string ?? ""
        guard mode.lowercased() == "delete" else {
            throw BackupError(.software, "could not switch the snapshot \(path) to journal_mode=DELETE (got \(mode))")
        }
        try destination.close()
    }

    /// Runs `PRAGMA quick_check` on the finished snapshot (on its own connection, so it can run on
    /// another thread while the snapshot is packed).
    /// - Throws: ``BackupError`` `dataError` when the check finds damage.
    static func quickCheck(snapshotPath: String, sourcePath: String) throws {
        let results = try DatabaseFacts.quickCheck(snapshotPath, doing: "checking the snapshot")
        guard results == ["ok"] else {
            throw BackupError(.dataError, "the snapshot of \(sourcePath) fails quick_check: \(results.prefix(3).joined(separator: "; ")) (the source database may be damaged; run `sqlite3 \(sourcePath) 'PRAGMA integrity_check'`)")
        }
    }

}
