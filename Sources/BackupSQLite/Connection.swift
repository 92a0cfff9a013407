import CSQLite

/// One SQLite connection. Not thread-safe and not `Sendable`: use it from one thread.
///
/// Close it with ``close()``, which can fail (`SQLITE_BUSY` when statements are still open);
/// `deinit` closes it with `sqlite3_close_v2` as a last resort.
public final class Connection {
    /// How the file is opened. The corresponding C flags are `SQLITE_OPEN_READONLY`,
    /// `SQLITE_OPEN_READWRITE` and `SQLITE_OPEN_CREATE`.
    public enum Mode: Sendable {
        /// The connection can never write to the file.
        case readOnly
        case readWrite
        case readWriteCreate
    }

    private var handle: OpaquePointer?
    public let path: String
    /// Milliseconds to wait on a lock held by another connection (`sqlite3_busy_timeout`); the online
    /// backup's steps honour it too.
    public private(set) var busyTimeout: Int32 = 5000
    /// Savepoints open through ``inSavepoint(_:)``, for their names.
    var savepointDepth = 0

    /// Opens the database at `path`.
    ///
    /// The corresponding C function is [`sqlite3_open_v2`](https://sqlite.org/c3ref/open.html).
    /// - Parameters:
    ///   - path: a file path, or a `file:` URI.
    ///   - mode: read-only, read-write, or read-write-create.
    ///   - busyTimeout: milliseconds to wait on a lock before `SQLITE_BUSY`.
    /// - Throws: ``SQLiteError``.
    ///   - vfs: the name of a registered VFS, or nil for the default.
    public init(path: String, mode: Mode, busyTimeout: Int32 = 5000, vfs: String? = nil) throws(SQLiteError) {
        self.path = path
        var flags: Int32 = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        // A path that starts with `file:` is a URI (``fileURI(_:readOnly:parameters:)``); others are paths.
        flags |= SQLITE_OPEN_URI
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, vfs)
        guard rc == SQLITE_OK, let db else {
            let error = SQLiteError(code: rc, db: db, context: "opening \(path)")
            sqlite3_close_v2(db)
            throw error
        }
        handle = db
        self.busyTimeout = busyTimeout
        sqlite3_busy_timeout(db, busyTimeout)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        if let handle { sqlite3_close_v2(handle) }
    }

    /// Closes the connection. The corresponding C function is `sqlite3_close`.
    /// - Throws: ``SQLiteError`` (`SQLITE_BUSY` when statements or backups are still open).
    public func close() throws(SQLiteError) {
        guard let db = handle else { return }
        let rc = sqlite3_close(db)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: db, context: "closing \(path)") }
        handle = nil
    }

    /// The raw handle, for the wrappers in this module.
    var db: OpaquePointer {
        guard let handle else { preconditionFailure("use of a closed SQLite connection") }
        return handle
    }

    /// Lends the raw `sqlite3*` for calls this wrapper does not cover.
    public func withUnsafeHandle<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(db)
    }

    /// Runs one or more SQL statements that return no rows we need.
    /// The corresponding C function is [`sqlite3_exec`](https://sqlite.org/c3ref/exec.html).
    /// - Throws: ``SQLiteError``.
    public func execute(_ sql: String) throws(SQLiteError) {
        var cError: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &cError)
        if rc != SQLITE_OK {
            let message = cError.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(cError)
            throw SQLiteError(code: sqlite3_extended_errcode(db), message: message, context: "running \(Self.abbreviate(sql))")
        }
    }

    /// Runs one statement with arguments, stepping it to completion.
    public func execute(_ sql: String, _ arguments: [SQLValue]) throws(SQLiteError) {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        while try statement.step() {}
    }

    /// Compiles one statement. The corresponding C function is `sqlite3_prepare_v2`.
    /// - Throws: ``SQLiteError``.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw SQLiteError(code: rc, db: db, context: "preparing \(Self.abbreviate(sql))")
        }
        return Statement(stmt: stmt, connection: self, sql: sql)
    }

    /// All rows of a query, as values.
    public func rows(_ sql: String, _ arguments: [SQLValue] = []) throws(SQLiteError) -> [[SQLValue]] {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        var result: [[SQLValue]] = []
        while try statement.step() {
            result.append((0..<statement.columnCount).map { statement.value(at: $0) })
        }
        return result
    }

    /// The first column of the first row, or `.null` when there is no row.
    public func scalar(_ sql: String, _ arguments: [SQLValue] = []) throws(SQLiteError) -> SQLValue {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        return try statement.step() ? statement.value(at: 0) : .null
    }

    /// Rows changed by the last statement (`sqlite3_changes64`).
    public var changes: Int64 { sqlite3_changes64(db) }

    /// `sqlite3_last_insert_rowid`.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// Whether the connection is outside any transaction (`sqlite3_get_autocommit`).
    public var isAutocommit: Bool { sqlite3_get_autocommit(db) != 0 }

    /// Keeps the -wal file when the last connection closes (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`).
    public func setNoCheckpointOnClose(_ on: Bool) throws(SQLiteError) {
        let rc = csqlite_db_config_no_ckpt_on_close(db, on ? 1 : 0)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: db, context: "setting NO_CKPT_ON_CLOSE") }
    }

    /// The SQLite library version, e.g. "3.40.1".
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    static func abbreviate(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }.joined(separator: " ")
        return flat.count > 160 ? String(flat.prefix(157)) + "..." : flat
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
