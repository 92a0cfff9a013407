@testable import BackupCore
import BackupDigest
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

@Suite struct VerifyTests {
    /// A fresh, good archive and its folder.
    func goodArchive() throws -> (TemporaryDirectory, String) {
        let dir = TemporaryDirectory("verify")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000)
        let result = try runExport(fixture.path, into: dir)
        return (dir, try #require(result.archivePath))
    }

    func problems(_ path: String) throws -> [String] { try Verifier().verify(path).problems }

    @Test func goodArchivePasses() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        #expect(try problems(archive) == [])
    }

    @Test func flippedByteIsCaught() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        // Past the manifest, inside the compressed database.
        bytes[bytes.count * 2 / 3] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: archive))
        let found = try problems(archive)
        #expect(!found.isEmpty)
        #expect(found.contains { $0.contains("appdata.db") })
    }

    @Test func truncatedArchiveIsCaught() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count * 6 / 10).write(to: URL(fileURLWithPath: archive))
        let found = try problems(archive)
        #expect(!found.isEmpty)
    }

    @Test func manifestThatLiesAboutRowsIsCaught() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.tables[0].rows += 1
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let liar = dir.file("liar.tar.zst")
        try ArchiveFixture.write(entries, to: liar)
        let found = try problems(liar)
        #expect(found == ["table \(manifest.tables[0].name) has \(manifest.tables[0].rows - 1) rows, the manifest says \(manifest.tables[0].rows)"])
    }

    @Test func manifestThatLiesAboutTheChecksumIsCaught() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.entries[0].sha256 = String(repeating: "0", count: 64)
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let liar = dir.file("liar.tar.zst")
        try ArchiveFixture.write(entries, to: liar)
        let found = try problems(liar)
        #expect(found.count == 1)
        #expect(found[0].contains("SHA-256"))
    }

    @Test func manifestThatLiesAboutTheSizeIsCaught() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.entries[0].size -= 4096
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let liar = dir.file("liar.tar.zst")
        try ArchiveFixture.write(entries, to: liar)
        #expect(try problems(liar).contains { $0.contains("appdata.db") && $0.contains("bytes") })
    }

    @Test func unexpectedAndUnsafeEntriesAreRefused() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var entries = try ArchiveFixture.entries(of: archive)
        entries.append((name: "../../etc/evil", bytes: Array("x".utf8)))
        entries.append((name: "/tmp/absolute", bytes: Array("x".utf8)))
        entries.append((name: "extra.txt", bytes: Array("x".utf8)))
        let bad = dir.file("bad.tar.zst")
        try ArchiveFixture.write(entries, to: bad)
        let found = try problems(bad)
        #expect(found.count == 3)
        #expect(found.contains { $0.contains("'..'") })
        #expect(found.contains { $0.contains("absolute") })
        #expect(found.contains { $0.contains("extra.txt") && $0.contains("not listed") })
        #expect(!FileManager.default.fileExists(atPath: "/tmp/absolute"))
    }

    @Test func archiveWithoutManifestFirstIsRejected() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        let entries = try ArchiveFixture.entries(of: archive)
        let swapped = dir.file("swapped.tar.zst")
        try ArchiveFixture.write([entries[1], entries[0]], to: swapped)
        let error = #expect(throws: BackupError.self) { try Verifier().verify(swapped) }
        #expect(error?.code == .dataError)
    }

    @Test func manifestFromTheFutureIsRefusedByName() throws {
        let (dir, archive) = try goodArchive()
        defer { withExtendedLifetime(dir) {} }
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.formatVersion = 99
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let future = dir.file("future.tar.zst")
        try ArchiveFixture.write(entries, to: future)
        let error = #expect(throws: BackupError.self) { try Verifier().verify(future) }
        #expect(error?.code == .dataError)
        #expect(error?.message.contains("99") == true)
        // It says which tool wrote it, so the user knows which version reads it.
        #expect(error?.message.contains("written by ptc-backup \(manifest.tool.version)") == true, "\(error?.message ?? "")")
    }

    @Test func missingArchiveIsNoInput() {
        let error = #expect(throws: BackupError.self) { try Verifier().verify("/nonexistent/a.tar.zst") }
        #expect(error?.code == .noInput)
    }
}

@Suite struct ExportFailureTests {
    @Test func notADatabaseIsDataError() throws {
        let dir = TemporaryDirectory("fail")
        try Data("just some text, not SQLite".utf8).write(to: URL(fileURLWithPath: dir.file("appdata.db")))
        let error = #expect(throws: BackupError.self) { try runExport(dir.file("appdata.db"), into: dir) }
        #expect(error?.code == .dataError)
        #expect(dir.contents() == ["appdata.db"])
    }

    @Test func corruptDatabaseIsDataErrorAndLeavesNothing() throws {
        let dir = TemporaryDirectory("fail")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000)
        // Checkpoint into the main file, then damage a page in the middle.
        let db = try Connection(path: fixture.path, mode: .readWrite)
        try db.execute("PRAGMA journal_mode=DELETE")
        let pageSize = Int(try db.scalar("PRAGMA page_size").int64 ?? 4096)
        let pages = Int(try db.scalar("PRAGMA page_count").int64 ?? 0)
        try db.close()
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: fixture.path))
        for page in stride(from: 2, to: pages, by: 3) {
            try handle.seek(toOffset: UInt64(page * pageSize))
            try handle.write(contentsOf: Data(repeating: 0xEE, count: 64))
        }
        try handle.close()
        let error = #expect(throws: BackupError.self) { try runExport(fixture.path, into: dir) }
        #expect(error?.code == .dataError)
        #expect(dir.contents() == ["appdata.db"])
    }

    @Test func lockedDatabaseIsTemporaryFailure() throws {
        let dir = TemporaryDirectory("fail")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000, rollbackJournal: true)
        // Another process holds an exclusive lock on a rollback-journal database.
        let holder = try LockHolder.start(database: fixture.path, write: "UPDATE sessions SET name = name", readyFile: dir.file("locked"))
        var options = ExportOptions()
        options.databasePath = fixture.path
        options.output = dir.file("out.tar.zst")
        options.busyTimeout = 200
        let error = #expect(throws: BackupError.self) { try Exporter().export(options) }
        holder.kill(SIGTERM)
        _ = try? holder.wait()
        #expect(error?.code == .temporaryFailure)
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.tar.zst")))
    }

    @Test func outputInAFolderThatCannotExistIsCantCreate() throws {
        let dir = TemporaryDirectory("fail")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        // A path below a regular file: no permission bits involved, so it fails as root too.
        let error = #expect(throws: BackupError.self) { try runExport(fixture.path, into: dir, name: "appdata.db/x.tar.zst") }
        #expect(error?.code == .cantCreate)
    }
}
