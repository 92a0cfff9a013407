import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

@Suite struct ConnectionTests {
    @Test func bindsAndReadsEveryKindOfValue() throws {
        let dir = TemporaryDirectory("sqlite")
        let db = try Connection(path: dir.file("a.db"), mode: .readWriteCreate)
        try db.execute("CREATE TABLE t (a, b, c, d, e)")
        let values: [SQLValue] = [.integer(1_700_000_000_123), .real(0.25), .text("数据 🚀 مرحبا"), .blob([0, 1, 255]), .null]
        try db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", values)
        try db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [.text(""), .blob([]), .null, .null, .null])
        let rows = try db.rows("SELECT * FROM t ORDER BY rowid")
        #expect(rows[0] == values)
        #expect(rows[1][0] == .text(""))
        try db.close()
    }

    @Test func readOnlyConnectionCannotWrite() throws {
        let dir = TemporaryDirectory("sqlite")
        let rw = try Connection(path: dir.file("a.db"), mode: .readWriteCreate)
        try rw.execute("CREATE TABLE t (a)")
        try rw.close()
        let ro = try Connection(path: dir.file("a.db"), mode: .readOnly)
        let error = #expect(throws: SQLiteError.self) { try ro.execute("INSERT INTO t VALUES (1)") }
        #expect(error?.isReadOnly == true)
        #expect(error?.context.contains("INSERT INTO t") == true)
    }

    @Test func notADatabaseIsClassified() throws {
        let dir = TemporaryDirectory("sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: dir.file("junk.db")))
        let error = #expect(throws: SQLiteError.self) {
            let db = try Connection(path: dir.file("junk.db"), mode: .readOnly)
            _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
        }
        #expect(error?.isNotADatabase == true)
    }

    @Test func missingFileCannotBeOpenedReadOnly() {
        let error = #expect(throws: SQLiteError.self) {
            _ = try Connection(path: "/nonexistent/dir/a.db", mode: .readOnly)
        }
        #expect(error?.isCantOpen == true)
    }

    @Test func onlineBackupCopiesEverythingAndReportsProgress() throws {
        let dir = TemporaryDirectory("sqlite")
        let source = try Connection(path: dir.file("src.db"), mode: .readWriteCreate)
        try source.execute("PRAGMA journal_mode=WAL; CREATE TABLE t (x TEXT)")
        for i in 0..<500 { try source.execute("INSERT INTO t VALUES (?)", [.text(String(repeating: "\(i)", count: 200))]) }
        let destination = try Connection(path: dir.file("dst.db"), mode: .readWriteCreate)
        var reports: [BackupProgress] = []
        try source.withReadTransaction {
            try source.backup(to: destination, pagesPerStep: 10) { reports.append($0) }
        }
        #expect(reports.count > 1)
        #expect(reports.last?.copiedPages == reports.last?.totalPages)
        #expect(try destination.scalar("SELECT count(*) FROM t").int64 == 500)
        try destination.close()
        try source.close()
    }
}
