import CSQLite

/// A value stored in, or bound to, an SQLite column.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int64: Int64? {
        switch self {
        case .integer(let v): return v
        case .real(let v): return Int64(exactly: v.rounded()) ?? nil
        case .text(let s): return Int64(s)
        default: return nil
        }
    }

    public var string: String? {
        switch self {
        case .text(let s): return s
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        default: return nil
        }
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .text(let s): return s
        case .blob(let b): return "<\(b.count) bytes>"
        }
    }
}

/// A compiled statement. Finalized in `deinit` (`sqlite3_finalize`). Not thread-safe.
public final class Statement {
    private let stmt: OpaquePointer
    private let connection: Connection
    public let sql: String

    init(stmt: OpaquePointer, connection: Connection, sql: String) {
        self.stmt = stmt
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(stmt) }

    /// Binds `values` to parameters 1...n, after clearing earlier bindings.
    /// - Throws: ``SQLiteError``.
    public func bind(_ values: [SQLValue]) throws(SQLiteError) {
        sqlite3_clear_bindings(stmt)
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    /// Binds one value to parameter `index` (1-based).
    public func bind(_ value: SQLValue, at index: Int32) throws(SQLiteError) {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(stmt, index)
        case .integer(let v): rc = sqlite3_bind_int64(stmt, index, v)
        case .real(let v): rc = sqlite3_bind_double(stmt, index, v)
        case .text(let s):
            var s = s
            rc = s.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    guard let base = chars.baseAddress else {
                        return sqlite3_bind_text64(stmt, index, "", 0, csqlite_transient(), UInt8(SQLITE_UTF8))
                    }
                    return sqlite3_bind_text64(stmt, index, base, sqlite3_uint64(chars.count), csqlite_transient(), UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let b):
            rc = b.withUnsafeBytes { buffer in
                sqlite3_bind_blob64(stmt, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64(buffer.count), csqlite_transient())
            }
        }
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: connection.db, context: "binding parameter \(index) of \(Connection.abbreviate(sql))") }
    }

    /// Advances to the next row. Returns false when the statement is done.
    /// The corresponding C function is `sqlite3_step`.
    /// - Throws: ``SQLiteError``.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(code: sqlite3_extended_errcode(connection.db), db: connection.db, context: "running \(Connection.abbreviate(sql))")
            sqlite3_reset(stmt)
            throw error
        }
    }

    /// Resets the statement so it can run again (bindings stay).
    public func reset() { sqlite3_reset(stmt) }

    public var columnCount: Int { Int(sqlite3_column_count(stmt)) }

    public func columnName(at index: Int) -> String {
        String(cString: sqlite3_column_name(stmt, Int32(index)))
    }

    public func isNull(at index: Int) -> Bool { sqlite3_column_type(stmt, Int32(index)) == SQLITE_NULL }

    public func int64(at index: Int) -> Int64 { sqlite3_column_int64(stmt, Int32(index)) }

    public func double(at index: Int) -> Double { sqlite3_column_double(stmt, Int32(index)) }

    public func text(at index: Int) -> String? {
        guard let c = sqlite3_column_text(stmt, Int32(index)) else { return nil }
        let count = Int(sqlite3_column_bytes(stmt, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: c, count: count), as: UTF8.self)
    }

    public func value(at index: Int) -> SQLValue {
        let i = Int32(index)
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT: return .text(text(at: index) ?? "")
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(stmt, i))
            guard count > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: count)))
        default: return .null
        }
    }
}
