import CSQLite

/// A failure reported by SQLite, with what we were doing when it happened.
///
/// `code` is SQLite's extended result code; `primaryCode` its low byte, which is what
/// callers usually match (`SQLITE_BUSY`, `SQLITE_NOTADB`, `SQLITE_CORRUPT`, ...).
/// `context` names the SQL or the file involved; statement arguments are never included.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String

    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    init(code: Int32, db: OpaquePointer?, context: String) {
        let message: String
        if let db, let cMessage = sqlite3_errmsg(db) {
            message = String(cString: cMessage)
        } else {
            message = String(cString: sqlite3_errstr(code))
        }
        self.init(code: code, message: message, context: context)
    }

    /// The primary result code (the extended code's low byte).
    public var primaryCode: Int32 { code & 0xff }

    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    public var isNotADatabase: Bool { primaryCode == SQLITE_NOTADB }
    public var isCorrupt: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }
    public var isCantOpen: Bool { primaryCode == SQLITE_CANTOPEN }
    public var isFull: Bool { primaryCode == SQLITE_FULL }
    public var isIOError: Bool { primaryCode == SQLITE_IOERR }
    public var isReadOnly: Bool { primaryCode == SQLITE_READONLY }
    public var isPermission: Bool { primaryCode == SQLITE_PERM || primaryCode == SQLITE_AUTH }
    public var isConstraint: Bool { primaryCode == SQLITE_CONSTRAINT }
    /// A read-only connection met a hot journal (`SQLITE_READONLY_ROLLBACK`): a write was interrupted and
    /// only a writer can roll it back.
    public var isHotJournal: Bool { code == 776 /* SQLITE_READONLY_ROLLBACK */ }

    public var description: String {
        "\(message) (SQLite code \(code)) while \(context)"
    }
}
