import CSQLite

/// How a transaction takes its locks. The corresponding SQL is `BEGIN DEFERRED|IMMEDIATE|EXCLUSIVE`.
public enum TransactionKind: String, Sendable {
    case deferred = "DEFERRED"
    case immediate = "IMMEDIATE"
    case exclusive = "EXCLUSIVE"
}

/// What a transaction body decides once it has run without throwing.
public enum TransactionCompletion: Sendable {
    case commit
    /// Undo everything the body did (a dry run, or nothing worth keeping).
    case rollback
}

extension Connection {
    /// Runs `body` in a transaction: commits when it returns `.commit`, rolls back when it returns
    /// `.rollback` or throws. The one place this package writes `BEGIN`, `COMMIT` and `ROLLBACK`.
    /// - Throws: what `body` throws, or ``SQLiteError`` from `BEGIN`/`COMMIT`.
    public func inTransaction(_ kind: TransactionKind = .deferred, _ body: () throws -> TransactionCompletion) throws {
        try execute("BEGIN \(kind.rawValue)")
        let completion: TransactionCompletion
        do {
            completion = try body()
        } catch {
            if !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
        switch completion {
        case .commit:
            do {
                try execute("COMMIT")
            } catch {
                if !isAutocommit { try? execute("ROLLBACK") }
                throw error
            }
        case .rollback:
            try execute("ROLLBACK")
        }
    }

    /// Runs `body` in a savepoint (nested inside the current transaction, or a transaction of its own):
    /// released when it returns `.commit`, rolled back to when it returns `.rollback` or throws.
    /// - Throws: what `body` throws, or ``SQLiteError``.
    public func inSavepoint<R>(_ body: () throws -> (TransactionCompletion, R)) throws -> R {
        let name = "ptc_savepoint_\(savepointDepth)"
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        try execute("SAVEPOINT \(name)")
        let completion: TransactionCompletion, result: R
        do {
            (completion, result) = try body()
        } catch {
            try? execute("ROLLBACK TO \(name)")
            try? execute("RELEASE \(name)")
            throw error
        }
        if completion == .rollback { try execute("ROLLBACK TO \(name)") }
        try execute("RELEASE \(name)")
        return result
    }

    /// ``inSavepoint(_:)`` for a body that always wants its work kept when it does not throw.
    public func inSavepoint<R>(_ body: () throws -> R) throws -> R {
        try inSavepoint { (.commit, try body()) }
    }

    /// Runs `body` in a savepoint and returns nil; when it fails on a constraint (`SQLITE_CONSTRAINT`),
    /// rolls its work back and returns that error instead, for the caller to report or work around.
    /// - Throws: any other error, after rolling the savepoint back.
    public func constraintViolation(inSavepoint body: () throws -> Void) throws -> SQLiteError? {
        do {
            try inSavepoint { try body() }
            return nil
        } catch {
            guard let error = error as? SQLiteError, error.isConstraint else { throw error }
            return error
        }
    }

    /// The triggers defined on `tables` of the main schema (all tables when nil), found by the table
    /// they are on (`sqlite_schema.tbl_name`), never by name: `(name, sql)` in creation order.
    public func triggers(on tables: [String]? = nil) throws(SQLiteError) -> [(name: String, sql: String)] {
        try rows("SELECT name, tbl_name, sql FROM main.sqlite_schema WHERE type = 'trigger' ORDER BY rowid").compactMap { row in
            guard let name = row[0].string, let table = row[1].string, let sql = row[2].string else { return nil }
            guard tables?.contains(table) ?? true else { return nil }
            return (name, sql)
        }
    }

    /// Runs `body` with every trigger on `tables` (of the main schema; all tables when nil) set aside, and
    /// creates each one again afterwards from its own stored SQL, so it comes back byte-identical. Call it
    /// inside a transaction: a failure rolls the triggers back with everything else. When there is no
    /// trigger to set aside, the schema is not touched at all.
    /// - Throws: what `body` throws, or ``SQLiteError``.
    public func withTriggersSetAside<R>(on tables: [String]? = nil, _ body: () throws -> R) throws -> R {
        let aside = try triggers(on: tables)
        for trigger in aside {
            try execute("DROP TRIGGER main.\(Self.quoteIdentifier(trigger.name))")
        }
        let result = try body()
        for trigger in aside { try execute(trigger.sql) }
        return result
    }

    /// `"name"` with inner quotes doubled.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// Splits SQL text into complete statements (`sqlite3_complete`: a `;` inside a trigger's body or a
    /// string does not end a statement). Comments and blank text between statements are dropped.
    public static func statements(in sql: String) -> [String] {
        var result: [String] = []
        var current = ""
        for character in sql {
            current.append(character)
            guard character == ";", sqlite3_complete(current) != 0 else { continue }
            let trimmed = Self.strippingLeadingComments(current)
            if !trimmed.isEmpty { result.append(trimmed) }
            current = ""
        }
        let rest = Self.strippingLeadingComments(current)
        if !rest.isEmpty { result.append(rest) }
        return result
    }

    private static func strippingLeadingComments(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let first = lines.first, first.allSatisfy(\.isWhitespace) || first.drop(while: \.isWhitespace).hasPrefix("--") {
            lines = lines.dropFirst()
        }
        return lines.joined(separator: "\n").trimmingWhitespace()
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// One object of `sqlite_schema`: a table, index, trigger or view, with the table it belongs to.
public struct SchemaObject: Sendable, Equatable {
    public let type: String
    public let name: String
    /// `tbl_name`: the table an index or trigger is on (a table's or view's own name).
    public let table: String
    /// The stored `CREATE` statement; nil for automatic indexes.
    public let sql: String?

    public init(type: String, name: String, table: String, sql: String?) {
        self.type = type
        self.name = name
        self.table = table
        self.sql = sql
    }
}

extension Connection {
    /// The objects of `schemaName` (`main`, or an attached database's name), in creation order.
    public func schemaObjects(schemaName: String = "main") throws(SQLiteError) -> [SchemaObject] {
        try rows("SELECT type, name, tbl_name, sql FROM \(Self.quoteIdentifier(schemaName)).sqlite_schema ORDER BY rowid").map {
            SchemaObject(type: $0[0].string ?? "", name: $0[1].string ?? "", table: $0[2].string ?? "", sql: $0[3].string)
        }
    }

    /// The objects that `sql` creates, as SQLite stores them (normalised `CREATE` text), read back from
    /// an in-memory database it was run in.
    public static func schemaObjects(createdBy sql: String) throws(SQLiteError) -> [SchemaObject] {
        let scratch = try Connection(path: ":memory:", mode: .readWriteCreate)
        try scratch.execute(sql)
        let objects = try scratch.schemaObjects()
        try scratch.close()
        return objects
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Connection {
    /// A `file:` URI for `path` (made absolute, percent-encoded), with `mode=ro` when `readOnly`, and
    /// any further `parameters` (`immutable=1`), to open or attach.
    public static func fileURI(_ path: String, readOnly: Bool, parameters: [String] = []) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                absolute = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
            }
        }
        var encoded = ""
        for byte in absolute.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = Array("0123456789ABCDEF")
                encoded += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        let query = (readOnly ? ["mode=ro"] : []) + parameters
        return "file:" + encoded + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Attaches the database at `path` (a file path, or a `file:` URI used as it is) under `name`.
    /// `readOnly` attaches it `mode=ro`: nothing done through this connection can write to it.
    /// The corresponding SQL is `ATTACH DATABASE`.
    public func attach(_ path: String, as name: String, readOnly: Bool) throws(SQLiteError) {
        let target = path.hasPrefix("file:") ? path : readOnly ? Self.fileURI(path, readOnly: true) : path
        try execute("ATTACH DATABASE '\(target.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''"))' AS \(Self.quoteIdentifier(name))")
    }

    /// Detaches the database attached as `name` (`DETACH DATABASE`).
    public func detach(_ name: String) throws(SQLiteError) {
        try execute("DETACH DATABASE \(Self.quoteIdentifier(name))")
    }
}
