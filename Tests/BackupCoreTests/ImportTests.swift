@testable import BackupCore
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import PlanToCodeSchema
import SampleGenerator
import Testing

func importOptions(_ archive: String, into target: String, force: Bool = false, dryRun: Bool = false) -> ImportOptions {
    var options = ImportOptions(archivePath: archive)
    options.databasePath = target
    options.mode = .restore
    options.force = force
    options.dryRun = dryRun
    options.host = "testhost"
    return options
}

func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// An archive of one generated database, and a second generated database to import into, in
/// rollback-journal mode so that its file's bytes are all of its content.
func archiveAndTarget(in dir: TemporaryDirectory, seeds: (UInt64, UInt64)) throws -> (archive: String, target: SampleGenerator.Summary) {
    let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 250_000, seed: seeds.0)
    let existing = try Fixtures.database(in: dir, name: "target.db", bytes: 200_000, seed: seeds.1, rollbackJournal: true)
    guard let archive = try runExport(incoming.path, into: dir).archivePath else { throw TestFailure("no archive written") }
    return (archive, existing)
}

/// A database with the current schema's columns, to compare migrated ones against.
func currentColumns(in dir: TemporaryDirectory) throws -> [String: Set<String>] {
    let path = dir.file("reference-current.db")
    let db = try Connection(path: path, mode: .readWriteCreate)
    try db.execute(try SchemaCatalog.currentSQL)
    try db.close()
    var result: [String: Set<String>] = [:]
    for table in try TableDigest.digests(of: path).keys {
        result[table] = Set(try TableDigest.columns(of: path, table: table))
    }
    return result
}

@Suite struct MigrationTests {
    @Test(arguments: [SchemaCatalog.v1_0_0, SchemaCatalog.v1_0_10])
    func olderDatabasesGetEveryCurrentColumnAndTheAppsDefaults(version: SchemaCatalog.AppVersion) throws {
        let dir = TemporaryDirectory("migrate")
        let fixture = try Fixtures.database(in: dir, version: version, bytes: 300_000)
        var options = ImportOptions(archivePath: "")
        options.host = "h"
        let report = try DatabaseMigration().run(databasePath: fixture.path, options: options)
        // The app's order: missing tables first (so the migrations that create them find them), then the
        // named migrations whose guard holds.
        let ran = SchemaCatalog.migrations.map(\.id).filter(report.applied.contains)
        #expect(!ran.isEmpty && ran.count <= SchemaCatalog.migrations.count - (version.migrationCount ?? 0))
        let safety = try #require(report.safetyArchive)
        #expect(try Verifier().verify(safety).problems == [])

        for (table, columns) in try currentColumns(in: dir) {
            let found = Set(try TableDigest.columns(of: fixture.path, table: table))
            #expect(columns.isSubset(of: found), "\(table) lacks \(columns.subtracting(found))")
        }
        let db = try Connection(path: fixture.path, mode: .readOnly)
        #expect(try db.scalar("SELECT count(*) FROM sessions WHERE task_history_version IS NOT 1 OR file_history_version IS NOT 1").int64 == 0)
        #expect(try db.scalar("SELECT count(*) FROM task_description_history WHERE device_id <> lower(device_id)").int64 == 0)
        #expect(try db.scalar("SELECT count(*) FROM file_selection_history WHERE device_id <> lower(device_id)").int64 == 0)
        #expect(try db.scalar("SELECT count(*) FROM terminal_sessions WHERE session_id IS NULL OR length(session_id) <> 32").int64 == 0)
        #expect(try db.scalar("SELECT count(DISTINCT session_id) = count(*) FROM terminal_sessions").int64 == 1)
        for migration in SchemaCatalog.migrations.prefix(version.migrationCount ?? 0) + SchemaCatalog.migrations.filter({ ran.contains($0.id) }) {
            #expect(try db.scalar("SELECT value FROM key_value_store WHERE key = ?", [.text("migration_\(migration.id)_applied")]).string == "true")
        }
        #expect(try db.scalar("SELECT count(*) FROM app_settings WHERE key IN ('device.is_discoverable', 'device.allow_remote_access')").int64 == 2)
        #expect(try db.rows("PRAGMA integrity_check").first?.first == .text("ok"))
        try db.close()

        // A second run changes nothing and saves nothing.
        let before = try TableDigest.digests(of: fixture.path)
        let again = try DatabaseMigration().run(databasePath: fixture.path, options: options)
        #expect(again.applied == [] && again.safetyArchive == nil)
        #expect(try TableDigest.digests(of: fixture.path) == before)
    }
}

@Suite struct RestoreTests {
    /// Every table of `source` compared with `restored` over the source's own columns (device ids
    /// lower-cased, as the migration does); migration bookkeeping tables are left out.
    func expectSameData(_ source: String, _ restored: String) throws {
        for table in try TableDigest.digests(of: source).keys where !["key_value_store", "migrations", "app_settings"].contains(table) {
            let columns = try TableDigest.columns(of: source, table: table).map { $0 == "device_id" ? "lower(device_id)" : "\"\($0)\"" }
            #expect(try TableDigest.digest(of: source, table: table, columns: columns)
                    == TableDigest.digest(of: restored, table: table, columns: columns), "table \(table) differs")
        }
    }

    @Test(arguments: Fixtures.allVersions)
    func roundTripIntoANewFile(version: SchemaCatalog.AppVersion) throws {
        let dir = TemporaryDirectory("restore")
        let fixture = try Fixtures.database(in: dir, version: version, bytes: 400_000)
        let archive = try #require(try runExport(fixture.path, into: dir).archivePath)
        let target = dir.file("restored.db")
        let report = try Importer().run(importOptions(archive, into: target))
        #expect(report.safetyArchive == nil)
        #expect(report.sessionCount == fixture.sessionIDs.count)
        try expectSameData(fixture.path, target)
        if (version.migrationCount ?? SchemaCatalog.migrations.count) == SchemaCatalog.migrations.count {
            #expect(try TableDigest.digests(of: target) == TableDigest.digests(of: fixture.path))
            #expect(report.migrations == [])
        } else {
            #expect(!report.migrations.isEmpty)
            for (table, columns) in try currentColumns(in: dir) {
                #expect(columns.isSubset(of: Set(try TableDigest.columns(of: target, table: table))), "\(table)")
            }
        }
    }

    @Test func replacingDataNeedsForceAndSavesTheTargetFirst() throws {
        let dir = TemporaryDirectory("restore")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 300_000, seed: 1)
        let existing = try Fixtures.database(in: dir, name: "target.db", bytes: 300_000, seed: 2)
        let archive = try #require(try runExport(incoming.path, into: dir).archivePath)
        let before = try TableDigest.digests(of: existing.path)

        let refused = #expect(throws: BackupError.self) { try Importer().run(importOptions(archive, into: existing.path)) }
        #expect(refused?.code == .usage)
        #expect(try TableDigest.digests(of: existing.path) == before)

        let dry = try Importer().run(importOptions(archive, into: existing.path, dryRun: true))
        #expect(dry.dryRun && dry.replacedSessionCount == existing.sessionIDs.count)
        #expect(try TableDigest.digests(of: existing.path) == before)

        let report = try Importer().run(importOptions(archive, into: existing.path, force: true))
        let safety = try #require(report.safetyArchive)
        #expect(try Verifier().verify(safety).problems == [])
        try ArchiveFixture.extractDatabase(safety, to: dir.file("saved.db"))
        #expect(try TableDigest.digests(of: dir.file("saved.db")) == before)
        #expect(try TableDigest.digests(of: existing.path) == TableDigest.digests(of: incoming.path))
    }

    @Test func aTargetWithOnlySettingsNeedsNoForceButIsStillSaved() throws {
        let dir = TemporaryDirectory("restore")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 200_000, seed: 8)
        let archive = try #require(try runExport(incoming.path, into: dir).archivePath)
        let target = dir.file("fresh.db")
        let db = try Connection(path: target, mode: .readWriteCreate)
        try db.execute(try SchemaCatalog.currentSQL)   // a fresh install: two default app settings
        try db.close()
        let report = try Importer().run(importOptions(archive, into: target))
        let safety = try #require(report.safetyArchive)
        try ArchiveFixture.extractDatabase(safety, to: dir.file("saved.db"))
        #expect(try value(dir.file("saved.db"), "SELECT count(*) FROM app_settings").int64 == 2)
    }

    @Test func anotherConnectionSeesTheNewContentAfterTheRestore() throws {
        let dir = TemporaryDirectory("restore")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 200_000, seed: 3)
        let existing = try Fixtures.database(in: dir, name: "target.db", bytes: 200_000, seed: 4, walOnlyCommits: 2)
        let archive = try #require(try runExport(incoming.path, into: dir).archivePath)
        let app = try Connection(path: existing.path, mode: .readWrite)
        #expect(try app.scalar("SELECT count(*) FROM sessions").int64 == Int64(existing.sessionIDs.count))
        _ = try Importer().run(importOptions(archive, into: existing.path, force: true))
        #expect(try app.scalar("SELECT count(*) FROM sessions").int64 == Int64(incoming.sessionIDs.count))
        #expect(try app.scalar("PRAGMA journal_mode").string == "wal")
        try app.close()
    }

    @Test(arguments: ["flip", "truncate", "traversal", "lying-manifest"])
    func aBadArchiveLeavesTheTargetByteIdentical(damage: String) throws {
        let dir = TemporaryDirectory("restore")
        let (archive, existing) = try archiveAndTarget(in: dir, seeds: (5, 6))
        switch damage {
        case "flip":
            var bytes = try [UInt8](fileBytes(archive))
            bytes[bytes.count / 2] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: archive))
        case "truncate":
            try fileBytes(archive).prefix(40_000).write(to: URL(fileURLWithPath: archive))
        case "traversal":
            var entries = try ArchiveFixture.entries(of: archive)
            entries.insert((name: "../escape.db", bytes: Array("x".utf8)), at: 1)
            try ArchiveFixture.write(entries, to: archive)
        default:
            var entries = try ArchiveFixture.entries(of: archive)
            var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
            manifest.tables[1].rows += 5
            entries[0].bytes = Array(try JSONEncoder().encode(manifest))
            try ArchiveFixture.write(entries, to: archive)
        }
        let before = try fileBytes(existing.path)
        let error = #expect(throws: BackupError.self) { try Importer().run(importOptions(archive, into: existing.path, force: true)) }
        #expect(error?.code == .dataError)
        #expect(try fileBytes(existing.path) == before)
        #expect(!dir.contents().contains { $0.contains("before-restore") })
        #expect(!FileManager.default.fileExists(atPath: (dir.path as NSString).deletingLastPathComponent + "/escape.db"))
    }

    @Test(arguments: [ImportOptions.Mode.restore, .merge])
    func aLockedTargetIsATemporaryFailureAndUnchanged(mode: ImportOptions.Mode) throws {
        let dir = TemporaryDirectory("restore")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 200_000, seed: 7)
        let archive = try #require(try runExport(incoming.path, into: dir).archivePath)
        let target = dir.file("target.db")
        let db = try Connection(path: target, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=DELETE; CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        try db.close()
        let holder = try LockHolder.start(database: target, write: "INSERT INTO t VALUES (2)", readyFile: dir.file("locked"))
        var options = importOptions(archive, into: target)
        options.mode = mode
        options.busyTimeout = 200
        let error = #expect(throws: BackupError.self) { try Importer().run(options) }
        holder.kill(SIGTERM)
        _ = try? holder.wait()
        #expect(error?.code == .temporaryFailure)
        let after = try Connection(path: target, mode: .readOnly)
        #expect(try after.rows("SELECT x FROM t") == [[.integer(1)]])
        try after.close()
    }
}

/// Archives with a symbolic link or an entry larger than its manifest says, built with Python's tarfile
/// and the zstd tool (this project's own writer only writes regular files).
@Suite struct HostileArchiveTests {
    func craft(_ kind: String, from archive: String, in dir: TemporaryDirectory) throws -> String {
        let entries = try ArchiveFixture.entries(of: archive)
        try Data(entries[0].bytes).write(to: URL(fileURLWithPath: dir.file("manifest.json")))
        try Data(entries[1].bytes).write(to: URL(fileURLWithPath: dir.file("appdata.db")))
        let out = dir.file("\(kind).tar.zst")
        let script = """
            import io, json, subprocess, sys, tarfile
            kind, folder, out = sys.argv[1], sys.argv[2], sys.argv[3]
            manifest = json.load(open(folder + '/manifest.json'))
            db = open(folder + '/appdata.db', 'rb').read()
            if kind == 'oversized':
                manifest['entries'][0]['size'] = len(db) - 4096
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as tar:
                data = json.dumps(manifest).encode()
                info = tarfile.TarInfo('manifest.json'); info.size = len(data); tar.addfile(info, io.BytesIO(data))
                if kind == 'symlink':
                    link = tarfile.TarInfo('appdata.db'); link.type = tarfile.SYMTYPE; link.linkname = '/etc/passwd'
                    tar.addfile(link)
                else:
                    info = tarfile.TarInfo('appdata.db'); info.size = len(db); tar.addfile(info, io.BytesIO(db))
            subprocess.run(['zstd', '-q', '-f', '-o', out], input=raw.getvalue(), check=True)
            """
        let result = try Binary.run("/usr/bin/env", ["python3", "-c", script, kind, dir.path, out])
        guard result.status == 0 else { throw TestFailure("crafting \(kind): \(result.stderr)") }
        return out
    }

    @Test(arguments: ["symlink", "oversized"])
    func isRefusedAndTheTargetIsUntouched(kind: String) throws {
        let dir = TemporaryDirectory("hostile")
        let (archive, existing) = try archiveAndTarget(in: dir, seeds: (51, 52))
        let hostile = try craft(kind, from: archive, in: dir)
        let problems = try Verifier().verify(hostile).problems
        #expect(problems.contains { $0.contains("appdata.db") && ($0.contains("symbolicLink") || $0.contains("bytes")) }, "\(problems)")
        let before = try fileBytes(existing.path)
        for mode in [ImportOptions.Mode.merge, .restore] {
            var options = importOptions(hostile, into: existing.path, force: true)
            options.mode = mode
            let error = #expect(throws: BackupError.self) { try Importer().run(options) }
            #expect(error?.code == .dataError)
        }
        #expect(try fileBytes(existing.path) == before)
    }
}

@Suite struct VersionMarkerTests {
    @Test func semanticVersionsCompareByNumber() {
        #expect(Migrator.isOlder("1.0.10", than: "1.2.11"))
        #expect(Migrator.isOlder("1.2.9", than: "1.2.11"))
        #expect(!Migrator.isOlder("1.2.11", than: "1.2.11"))
        #expect(!Migrator.isOlder("1.10.0", than: "1.2.11"))
        #expect(!Migrator.isOlder("2.0", than: "1.2.11"))
        #expect(Migrator.isOlder(nil, than: "1.2.11"))
        #expect(Migrator.isOlder("garbage", than: "1.2.11"))
    }

    /// A database of a newer app that only lacks a marker gets the migration, not an older version label.
    @Test func aNewerAppsVersionIsNeverLowered() throws {
        let dir = TemporaryDirectory("markers")
        let path = dir.file("newer.db")
        let db = try Connection(path: path, mode: .readWriteCreate)
        try db.execute(try SchemaCatalog.currentSQL)
        try db.execute("INSERT INTO key_value_store (key, value, updated_at) VALUES ('app_version', '1.3.0', 1), ('schema_version', '2026-future', 1)")
        var applied: [String] = []
        try db.inTransaction {
            applied = try Migrator.apply(db)
            return .commit
        }
        #expect(applied == ["normalize_history_device_ids"])
        #expect(try db.scalar("SELECT value FROM key_value_store WHERE key = 'app_version'").string == "1.3.0")
        #expect(try db.scalar("SELECT value FROM key_value_store WHERE key = 'schema_version'").string == "2026-future")
        try db.close()
    }
}
