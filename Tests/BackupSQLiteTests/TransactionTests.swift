import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// The one home of transactions, savepoints, triggers set aside and attachments.
@Suite struct TransactionTests {
    func database(_ dir: TemporaryDirectory) throws -> Connection {
        let db = try Connection(path: dir.file("t.db"), mode: .readWriteCreate)
        try db.execute("""
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, updated INTEGER);
            CREATE TRIGGER   touch AFTER UPDATE ON t
            BEGIN UPDATE t SET updated = 99 WHERE id = NEW.id; END;
            CREATE TABLE other (x);
            CREATE TRIGGER other_touch AFTER INSERT ON other BEGIN SELECT 1; END;
            INSERT INTO t (id, v) VALUES (1, 'a');
            """)
        return db
    }

    func count(_ db: Connection, _ sql: String) throws -> Int64 { try db.scalar(sql).int64 ?? -1 }

    @Test func aTransactionCommitsRollsBackAndRollsBackOnThrow() throws {
        let dir = TemporaryDirectory("tx")
        let db = try database(dir)
        try db.inTransaction(.immediate) {
            try db.execute("INSERT INTO t (v) VALUES ('b')")
            return .commit
        }
        try db.inTransaction {
            try db.execute("INSERT INTO t (v) VALUES ('c')")
            return .rollback
        }
        #expect(throws: TestFailure.self) {
            try db.inTransaction {
                try db.execute("INSERT INTO t (v) VALUES ('d')")
                throw TestFailure("stop")
            }
        }
        #expect(try count(db, "SELECT count(*) FROM t") == 2)
        #expect(db.isAutocommit)
    }

    @Test func savepointsNestAndAConstraintViolationIsReturnedNotThrown() throws {
        let dir = TemporaryDirectory("tx")
        let db = try database(dir)
        try db.inTransaction {
            try db.inSavepoint {
                try db.execute("INSERT INTO t (v) VALUES ('kept')")
                let refused = try db.constraintViolation(inSavepoint: {
                    try db.execute("INSERT INTO t (v) VALUES ('rolled back')")
                    try db.execute("INSERT INTO t (id, v) VALUES (1, 'duplicate')")
                })
                #expect(refused?.isConstraint == true)
            }
            return .commit
        }
        // Any other failure is thrown, and the savepoint's work undone.
        var other: (any Error)?
        do {
            _ = try db.constraintViolation(inSavepoint: {
                try db.execute("INSERT INTO t (v) VALUES ('undone')")
                try db.execute("INSERT INTO nowhere VALUES (1)")
            })
        } catch {
            other = error
        }
        #expect((other as? SQLiteError)?.isConstraint == false)
        #expect(try db.rows("SELECT v FROM t ORDER BY id").compactMap { $0[0].string } == ["a", "kept"])
    }

    /// Triggers are found by their table and come back byte-identical; with none, the schema is untouched.
    @Test func triggersSetAsideComeBackByteIdentical() throws {
        let dir = TemporaryDirectory("tx")
        let db = try database(dir)
        let before = try db.schemaObjects().filter { $0.type == "trigger" }.map(\.sql)
        let cookie = try count(db, "PRAGMA schema_version")
        try db.inTransaction {
            try db.withTriggersSetAside(on: ["t"]) {
                #expect(try db.triggers(on: ["t"]).isEmpty)
                #expect(try db.triggers(on: ["other"]).count == 1)
                try db.execute("UPDATE t SET v = 'changed' WHERE id = 1")
            }
            return .commit
        }
        #expect(try count(db, "SELECT updated IS NULL FROM t WHERE id = 1") == 1)
        #expect(try db.schemaObjects().filter { $0.type == "trigger" }.map(\.sql).sorted { ($0 ?? "") < ($1 ?? "") }
                == before.sorted { ($0 ?? "") < ($1 ?? "") })
        try db.execute("CREATE TABLE bare (x)")
        let bare = try count(db, "PRAGMA schema_version")
        try db.withTriggersSetAside(on: ["bare"]) { try db.execute("INSERT INTO bare VALUES (1)") }
        #expect(try count(db, "PRAGMA schema_version") == bare && bare > cookie)
    }

    @Test func aReadOnlyAttachmentCannotBeWritten() throws {
        let dir = TemporaryDirectory("tx")
        let db = try database(dir)
        try db.close()
        let main = try Connection(path: dir.file("main.db"), mode: .readWriteCreate)
        try main.attach(dir.file("t.db"), as: "src", readOnly: true)
        #expect(try count(main, "SELECT count(*) FROM src.t") == 1)
        #expect(throws: SQLiteError.self) { try main.execute("INSERT INTO src.t (v) VALUES ('x')") }
        try main.detach("src")
        #expect(Connection.fileURI("/a b/c'd?.db", readOnly: true) == "file:/a%20b/c%27d%3F.db?mode=ro")
    }

    @Test func statementsSplitWhereSQLiteWould() {
        let sql = """
            -- a comment
            CREATE TABLE a (x); -- trailing
            CREATE TRIGGER tr AFTER INSERT ON a BEGIN SELECT ';'; SELECT 2; END;
            INSERT INTO a VALUES ('semi;colon');
            """
        let statements = Connection.statements(in: sql)
        #expect(statements.count == 3)
        #expect(statements[1].hasPrefix("CREATE TRIGGER") && statements[1].hasSuffix("END;"))
    }

    /// The online backup honours the connections' busy timeout, not a fixed wait.
    @Test func aLockedDestinationIsGivenUpAfterTheBusyTimeout() throws {
        let dir = TemporaryDirectory("tx")
        let source = try database(dir)
        let destinationPath = dir.file("dest.db")
        let holder = try Connection(path: destinationPath, mode: .readWriteCreate)
        try holder.execute("CREATE TABLE x (y); BEGIN EXCLUSIVE; INSERT INTO x VALUES (1)")
        let destination = try Connection(path: destinationPath, mode: .readWrite, busyTimeout: 200)
        let started = ContinuousClock.now
        #expect(throws: SQLiteError.self) {
            try Connection(path: dir.file("t.db"), mode: .readOnly, busyTimeout: 200).backup(to: destination, pagesPerStep: 1)
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(150) && waited < .seconds(3), "\(waited)")
        try holder.execute("ROLLBACK")
        withExtendedLifetime(source) {}
    }
}
