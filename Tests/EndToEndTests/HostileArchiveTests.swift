import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// Archives are untrusted input: each hand-built hostile archive is refused with the right exit code and
/// one error line, and the target is byte-identical afterwards.
@Suite struct HostileArchiveTests {
    struct Setup {
        let dir: TemporaryDirectory
        let archive: String
        let target: String
        let targetBytes: Data
    }

    func setup() throws -> Setup {
        let dir = TemporaryDirectory("hostile")
        let source = try Fixtures.database(in: dir, name: "source.db", bytes: 200_000, seed: 31)
        let archive = dir.file("good.tar.zst")
        #expect(try ptc(["export", "--db", source.path, "--output", archive, "--quiet"]).status == 0)
        let target = try Fixtures.database(in: dir, name: "target.db", bytes: 150_000, seed: 32, rollbackJournal: true)
        return Setup(dir: dir, archive: archive, target: target.path, targetBytes: try Data(contentsOf: URL(fileURLWithPath: target.path)))
    }

    /// Runs `import` of `archive` and checks the refusal: exit code, one error line containing `says`, the
    /// target unchanged and nothing left beside it.
    func expectRefused(_ s: Setup, _ archive: String, mode: String = "restore", extra: [String] = [], code: Int32, says: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let listing = s.dir.contents()
        let result = try ptc(["import", archive, "--db", s.target, "--mode", mode] + (mode == "restore" ? ["--force"] : []) + extra)
        #expect(result.status == code, "\(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("ptc-backup: error: ") && lines[0].contains(says), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.target)) == s.targetBytes, sourceLocation: sourceLocation)
        #expect(s.dir.contents() == listing, sourceLocation: sourceLocation)
    }

    /// A copy of the good archive whose database `sql` has changed (SQL built from the database itself).
    func withSQL(_ s: Setup, _ name: String, _ sql: @escaping (Connection) throws -> String) throws -> String {
        let path = s.dir.file("\(name).tar.zst")
        try ArchiveFixture.rewrite(s.archive, to: path) { database, _ in
            let db = try Connection(path: database, mode: .readWrite)
            try db.execute(try sql(db))
            try db.close()
        }
        return path
    }

    @Test func aForeignTriggerOrViewIsNotRestoredUnlessAllowed() throws {
        let s = try setup()
        let trigger = try withSQL(s, "trigger") { _ in "CREATE TRIGGER steal AFTER INSERT ON background_jobs BEGIN DELETE FROM sessions; END" }
        try expectRefused(s, trigger, code: 65, says: "trigger steal on background_jobs")
        let view = try withSQL(s, "view") { _ in "CREATE VIEW sessions_v AS SELECT * FROM sessions" }
        try expectRefused(s, view, code: 65, says: "view sessions_v")
        // The app's own trigger name with another body is not the app's trigger.
        let impostor = try withSQL(s, "impostor") { db in
            let name = try #require(try db.triggers(on: ["terminal_sessions"]).first?.name)
            return "DROP TRIGGER \(name); CREATE TRIGGER \(name) AFTER UPDATE ON terminal_sessions BEGIN DELETE FROM background_jobs; END"
        }
        try expectRefused(s, impostor, code: 65, says: "on terminal_sessions")
        let sequence = try withSQL(s, "sequence") { _ in "UPDATE sqlite_sequence SET seq = 9223372036854775807 WHERE name = 'error_logs'" }
        try expectRefused(s, sequence, code: 65, says: "sqlite_sequence of error_logs")

        // Explicitly allowed, the trigger comes in.
        let allowed = try ptc(["import", trigger, "--db", s.target, "--mode", "restore", "--force", "--allow-unknown-schema", "--quiet"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try Connection(path: s.target, mode: .readOnly).triggers(on: ["background_jobs"]).map(\.name) == ["steal"])
    }

    @Test func aManifestOfABadFormatVersionIsADataErrorWithTheNumber() throws {
        let s = try setup()
        for version in [0, -3, 99] {
            let bad = s.dir.file("format\(version).tar.zst")
            try ArchiveFixture.rewrite(s.archive, to: bad) { _, manifest in manifest.formatVersion = version }
            try expectRefused(s, bad, code: 65, says: "format \(version)")
            let verify = try ptc(["verify", bad])
            #expect(verify.status == 65 && verify.stderr.contains("format \(version)"), "\(verify.stderr)")
            try FileManager.default.removeItem(atPath: bad)
        }
    }

    @Test func theManifestsSessionListMustMatchTheDatabase() throws {
        let s = try setup()
        let extra = s.dir.file("extra.tar.zst")
        try ArchiveFixture.rewrite(s.archive, to: extra) { _, manifest in manifest.sessions.removeLast() }
        let verify = try ptc(["verify", extra])
        #expect(verify.status == 65 && verify.stdout.contains("the manifest does not list"), "\(verify.stdout)\(verify.stderr)")
        try expectRefused(s, extra, mode: "merge", code: 65, says: "the manifest does not list")
    }

    /// A manifest that declares more than the disk holds is refused before anything is written; an entry
    /// that grows past its declared size is stopped at once.
    @Test func decompressionIsBoundedByTheManifestAndTheFreeSpace() throws {
        let s = try setup()
        let bomb = s.dir.file("bomb.tar.zst")
        try ArchiveFixture.rewrite(s.archive, to: bomb) { _, manifest in
            manifest.entries[manifest.entries.count - 1].size = 1 << 50
        }
        // rewrite() recomputes the database entry; put the lie back in the manifest only.
        var entries = try ArchiveFixture.entries(of: bomb)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        let index = try #require(manifest.entries.firstIndex { $0.path == Manifest.databaseEntryName })
        manifest.entries[index].size = 1 << 50
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        try FileManager.default.removeItem(atPath: bomb)
        try ArchiveFixture.write(entries, to: bomb)
        try expectRefused(s, bomb, code: 74, says: "free")
        let verify = try ptc(["verify", bomb, "--tmp-dir", s.dir.path])
        #expect(verify.status == 74 && verify.stderr.contains("--tmp-dir"), "\(verify.stderr)")

        // The manifest says less than the entry holds: stopped at the declared size.
        let oversize = s.dir.file("oversize.tar.zst")
        entries = try ArchiveFixture.entries(of: s.archive)
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.entries[index].size = 4096
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        try ArchiveFixture.write(entries, to: oversize)
        try expectRefused(s, oversize, code: 65, says: "fails verification")
    }

    /// `--remap` never rewrites content before its check has passed: a copy that fails the check is
    /// refused, whatever the remap.
    @Test func remapWaitsForTheCheck() throws {
        let s = try setup()
        let lying = s.dir.file("lying.tar.zst")
        try ArchiveFixture.rewrite(s.archive, to: lying) { _, manifest in
            let index = manifest.tables.firstIndex { $0.name == "background_jobs" }!
            manifest.tables[index].rows += 1
        }
        for _ in 0..<3 {
            try expectRefused(s, lying, mode: "merge", extra: ["--remap", "/home=/srv"], code: 65, says: "background_jobs")
        }
    }

    /// A restore that brings fewer sessions than it replaces says so, before (refused without --force) and after.
    @Test func aRestoreTellsWhatItReplaces() throws {
        let s = try setup()
        let single = s.dir.file("single.db")
        let db = try Connection(path: single, mode: .readWriteCreate)
        try db.execute(try String(contentsOfFile: Binary.packageRoot + "/Schema/sql/current.sql", encoding: .utf8))
        try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES ('only', 'n', '/p', 'h', 1, 1)")
        try db.close()
        let archive = s.dir.file("single.tar.zst")
        #expect(try ptc(["export", "--db", single, "--output", archive, "--quiet"]).status == 0)
        let big = try Fixtures.database(in: s.dir, name: "big.db", bytes: 1_500_000, seed: 33)
        #expect(big.sessionIDs.count > 1)
        let refused = try ptc(["import", archive, "--db", big.path, "--mode", "restore"])
        #expect(refused.status == 64 && refused.stderr.contains("\(big.sessionIDs.count) sessions with 1"), "\(refused.stderr)")
        let forced = try ptc(["import", archive, "--db", big.path, "--mode", "restore", "--force"])
        #expect(forced.status == 0)
        #expect(forced.stderr.contains("warning: replaced") && forced.stderr.contains("with 1; the previous content is saved in"), "\(forced.stderr)")
    }

    @Test func mergeIntoAMissingDatabaseIsNoInputAndCreatesNothing() throws {
        let s = try setup()
        let missing = s.dir.file("missing.db")
        let result = try ptc(["import", s.archive, "--db", missing])
        #expect(result.status == 66 && result.stderr.contains("use --mode restore to create one"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func aFailedRestoreIntoANewPathLeavesNothing() throws {
        let s = try setup()
        let bad = s.dir.file("bad.tar.zst")
        try ArchiveFixture.rewrite(s.archive, to: bad) { _, manifest in
            let index = manifest.tables.firstIndex { $0.name == "sessions" }!
            manifest.tables[index].rows += 5
        }
        let fresh = s.dir.file("fresh.db")
        let result = try ptc(["import", bad, "--db", fresh, "--mode", "restore"])
        #expect(result.status == 65, "\(result.stderr)")
        #expect(s.dir.contents().filter { $0.hasPrefix("fresh.db") } == [])
    }

    /// A database built with `sql` after `pragma` (page size, encoding), with one session, exported.
    func oddArchive(_ s: Setup, name: String, pragma: String) throws -> String {
        let path = s.dir.file("\(name).db")
        let db = try Connection(path: path, mode: .readWriteCreate)
        try db.execute(pragma)
        try db.execute(try String(contentsOfFile: Binary.packageRoot + "/Schema/sql/current.sql", encoding: .utf8))
        try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES ('odd', 'n', '/p', 'h', 1, 1)")
        try db.close()
        let archive = s.dir.file("\(name).tar.zst")
        #expect(try ptc(["export", "--db", path, "--output", archive, "--quiet"]).status == 0)
        return archive
    }

    @Test func aUTF16DatabaseRestoresButCannotMergeIntoAUTF8One() throws {
        let s = try setup()
        let archive = try oddArchive(s, name: "utf16", pragma: "PRAGMA encoding='UTF-16le'")
        try expectRefused(s, archive, mode: "merge", code: 65, says: "UTF-16le")
        let fresh = s.dir.file("fresh-utf16.db")
        #expect(try ptc(["import", archive, "--db", fresh, "--mode", "restore", "--quiet"]).status == 0)
    }

    /// The online backup API cannot change a WAL database's page size: the copy is converted first.
    @Test func anotherPageSizeRestoresIntoAWALTarget() throws {
        let s = try setup()
        let archive = try oddArchive(s, name: "pages", pragma: "PRAGMA page_size=8192")
        let wal = try Fixtures.database(in: s.dir, name: "wal.db", bytes: 100_000, seed: 34)
        #expect(try Connection(path: wal.path, mode: .readOnly).scalar("PRAGMA journal_mode").string == "wal")
        let result = try ptc(["import", archive, "--db", wal.path, "--mode", "restore", "--force", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let db = try Connection(path: wal.path, mode: .readOnly)
        #expect(try db.scalar("SELECT group_concat(id) FROM sessions").string == "odd")
        #expect(try db.scalar("PRAGMA page_size").int64 == 4096)
        #expect(try db.scalar("PRAGMA integrity_check").string == "ok")
        try db.close()
    }
}
