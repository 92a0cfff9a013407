@testable import BackupCore
import BackupDigest
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import PlanToCodeSchema
import Testing

/// Runs an export of `database` into `dir`, with a fixed host and time.
func runExport(_ database: String, into dir: TemporaryDirectory, name: String = "out.tar.zst",
               selection: SessionSelection = SessionSelection(), pagesPerStep: Int32 = 8192,
               now: Date = Date()) throws -> ExportResult {
    var options = ExportOptions()
    options.databasePath = database
    options.output = dir.file(name)
    options.selection = selection
    options.pagesPerStep = pagesPerStep
    options.host = "testhost"
    options.now = now
    return try Exporter().export(options)
}

@Suite struct FullExportTests {
    @Test(arguments: Fixtures.allVersions)
    func archiveEqualsSourceRowForRow(version: SchemaCatalog.AppVersion) throws {
        let dir = TemporaryDirectory("export")
        let fixture = try Fixtures.database(in: dir, version: version, bytes: 400_000)
        let result = try runExport(fixture.path, into: dir)
        let archive = try #require(result.archivePath)
        let manifest = try #require(result.manifest)
        #expect(manifest.kind == .full)
        #expect(manifest.source.appVersion == version.appVersion)
        #expect(manifest.source.schemaVersion == version.schemaVersion)
        #expect(manifest.sessions.count == fixture.sessionIDs.count)

        let copy = dir.file("copy.db")
        try ArchiveFixture.extractDatabase(archive, to: copy)
        #expect(try TableDigest.digests(of: copy) == TableDigest.digests(of: fixture.path))
        #expect(try TableDigest.schema(of: copy) == TableDigest.schema(of: fixture.path))
        let db = try Connection(path: copy, mode: .readOnly)
        #expect(try db.scalar("PRAGMA journal_mode").string == "delete")
        try db.close()

        let outcome = try Verifier().verify(archive)
        #expect(outcome.problems == [])
        #expect(outcome.tables == manifest.tables)
    }

    @Test func archiveLayoutFollowsTheSpec() throws {
        let dir = TemporaryDirectory("export")
        let fixture = try Fixtures.database(in: dir, bytes: 200_000)
        var options = ExportOptions()
        options.databasePath = fixture.path
        options.output = dir.path + "/"
        options.host = "laptop"
        options.now = Date(timeIntervalSince1970: 1_700_000_000)
        let result = try Exporter().export(options)
        let archive = try #require(result.archivePath)
        #expect((archive as NSString).lastPathComponent == "plantocode-laptop-20231114T221320Z-full.tar.zst")
        let attributes = try FileManager.default.attributesOfItem(atPath: archive)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let entries = try ArchiveFixture.entries(of: archive)
        #expect(entries.map(\.name) == ["manifest.json", "appdata.db"])
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        #expect(manifest.entries == [Manifest.Entry(path: "appdata.db", size: Int64(entries[1].bytes.count), sha256: SHA256.hex(of: entries[1].bytes))])
        #expect(manifest.createdAt == "2023-11-14T22:13:20Z")
        #expect(manifest.source.host == "laptop")
        // Nothing but the archive is left in the folder (besides SQLite's own -wal/-shm of the source).
        #expect(dir.contents().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
                == ["appdata.db", "plantocode-laptop-20231114T221320Z-full.tar.zst"])
        // A second export in the same second does not replace the first: it is numbered (SameSecondExportTests).
        let second = try Exporter().export(options)
        #expect(second.archivePath == dir.file("plantocode-laptop-20231114T221320Z-full-2.tar.zst"))
        #expect(try ArchiveFixture.entries(of: archive).map(\.bytes) == entries.map(\.bytes))
    }

    @Test func rowsOnlyInTheWALAreInTheArchive() throws {
        let dir = TemporaryDirectory("export")
        let fixture = try Fixtures.database(in: dir, bytes: 200_000, walOnlyCommits: 4)
        let walSize = FileSystem.size(of: fixture.path + "-wal") ?? 0
        #expect(walSize > 0, "the fixture must leave commits in the -wal file")
        let result = try runExport(fixture.path, into: dir)
        let ids = Set(try #require(result.manifest).sessions.map(\.id))
        #expect(fixture.walOnlySessionIDs.count == 4)
        #expect(Set(fixture.walOnlySessionIDs).isSubset(of: ids))
        // The source's WAL is untouched: a read-only export cannot checkpoint it.
        #expect(FileSystem.size(of: fixture.path + "-wal") == walSize)
    }

    @Test func aSecondProcessCommittingDuringTheExportLeavesOneCommittedState() throws {
        let dir = TemporaryDirectory("export")
        let fixture = try Fixtures.database(in: dir, bytes: 3_000_000)
        let stop = dir.file("stop")
        let writer = try AppWriter.start(database: fixture.path, seconds: 60, stopFile: stop, readyFile: dir.file("ready"))
        // Small steps: the copy takes many steps while the writer commits between them.
        let result = try runExport(fixture.path, into: dir, pagesPerStep: 8)
        _ = FileManager.default.createFile(atPath: stop, contents: Data())
        let writerResult = try writer.wait(timeout: 30)
        #expect(writerResult.status == 0, "writer failed: \(writerResult.stderr)")

        let copy = dir.file("copy.db")
        try ArchiveFixture.extractDatabase(try #require(result.archivePath), to: copy)
        let db = try Connection(path: copy, mode: .readOnly)
        let maxN = try db.scalar("SELECT max(n) FROM ptc_writer_log").int64 ?? 0
        let count = try db.scalar("SELECT count(*) FROM ptc_writer_log").int64 ?? -1
        let marker = try db.scalar("SELECT value FROM key_value_store WHERE key = 'ptc_writer_n'").int64 ?? -2
        try db.close()
        #expect(maxN >= 1)
        #expect(count == maxN)
        #expect(marker == maxN)
        // The writer went on committing while and after the snapshot was taken.
        let source = try Connection(path: fixture.path, mode: .readOnly)
        #expect(try source.scalar("SELECT max(n) FROM ptc_writer_log").int64 ?? 0 > maxN)
        #expect(try source.rows("PRAGMA integrity_check").first?.first == .text("ok"))
        try source.close()
    }
}

@Suite struct PartialExportTests {
    /// The ids in `table`'s first column of the database at `path`.
    func ids(_ table: String, _ path: String, column: String = "id") throws -> Set<String> {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        return Set(try db.rows("SELECT \(column) FROM \(table)").map { $0[0].description })
    }

    @Test(arguments: Fixtures.allVersions)
    func holdsExactlyTheSelectedSessionsAndTheirDependants(version: SchemaCatalog.AppVersion) throws {
        let dir = TemporaryDirectory("partial")
        let fixture = try Fixtures.database(in: dir, version: version, bytes: 900_000, seed: 11)
        let source = try Connection(path: fixture.path, mode: .readOnly)
        let picked = Array(fixture.sessionIDs.prefix(2))
        let project = try #require(try source.scalar("SELECT project_directory FROM sessions WHERE id NOT IN (?, ?) LIMIT 1",
                                                      [.text(picked[0]), .text(picked[1])]).string)
        let expectedSessions = Set(picked).union(try source.rows("SELECT id FROM sessions WHERE project_directory = ?", [.text(project)]).map { $0[0].description })
        let inList = expectedSessions.map { "'\($0)'" }.joined(separator: ",")
        func expected(_ sql: String) throws -> Set<String> { Set(try source.rows(sql).map { $0[0].description }) }
        let expectedJobs = try expected("SELECT id FROM background_jobs WHERE session_id IN (\(inList))")
        let expectedTerminals = try expected("SELECT t.id FROM terminal_sessions t JOIN background_jobs j ON j.id = t.job_id WHERE j.session_id IN (\(inList))")
        let expectedTasks = try expected("SELECT id FROM task_description_history WHERE session_id IN (\(inList))")
        let expectedFiles = try expected("SELECT id FROM file_selection_history WHERE session_id IN (\(inList))")
        let expectedPrompts = try expected("SELECT project_hash || '/' || task_type FROM project_system_prompts WHERE project_hash IN (SELECT project_hash FROM sessions WHERE id IN (\(inList)))")
        let sourceSchema = try TableDigest.schema(of: fixture.path)
        try source.close()

        let result = try runExport(fixture.path, into: dir, selection: SessionSelection(sessionIDs: picked, projects: [project + "/"]))
        let manifest = try #require(result.manifest)
        #expect(manifest.kind == .partial)
        #expect(manifest.selection?.sessionIDs == picked)
        let copy = dir.file("copy.db")
        try ArchiveFixture.extractDatabase(try #require(result.archivePath), to: copy)
        #expect(try ids("sessions", copy) == expectedSessions)
        #expect(try ids("background_jobs", copy) == expectedJobs)
        #expect(try ids("terminal_sessions", copy) == expectedTerminals)
        #expect(try ids("task_description_history", copy) == expectedTasks)
        #expect(try ids("file_selection_history", copy) == expectedFiles)
        #expect(try ids("project_system_prompts", copy, column: "project_hash || '/' || task_type") == expectedPrompts)
        // Same DDL as the source for everything it carries.
        let copySchema = try TableDigest.schema(of: copy)
        for (name, sql) in copySchema { #expect(sourceSchema[name] == sql, "DDL of \(name) differs") }
        #expect(manifest.skippedTables.contains("error_logs") || version.migrationCount == 0)
        #expect(try Verifier().verify(try #require(result.archivePath)).problems == [])
    }

    @Test func olderThanUnderstandsSecondsAndMilliseconds() throws {
        let dir = TemporaryDirectory("older")
        let path = dir.file("appdata.db")
        let db = try Connection(path: path, mode: .readWriteCreate)
        try db.execute(try SchemaCatalog.currentSQL)
        let now: Int64 = 1_800_000_000
        let day: Int64 = 86_400
        func session(_ id: String, updated: Int64) throws {
            try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES (?, ?, '/p', 'h', ?, ?)",
                           [.text(id), .text(id), .integer(updated), .integer(updated)])
        }
        try session("old-ms", updated: (now - 10 * day) * 1000)
        try session("old-s", updated: now - 10 * day)
        try session("new-ms", updated: (now - day) * 1000)
        try session("new-s", updated: now - day)
        try session("new-with-old-job", updated: (now - day) * 1000)
        try db.execute("INSERT INTO background_jobs (id, session_id, prompt, created_at) VALUES ('j1', 'new-with-old-job', 'p', ?)", [.integer((now - 20 * day) * 1000)])
        try db.execute("INSERT INTO background_jobs (id, session_id, prompt, created_at) VALUES ('j2', 'new-ms', 'p', ?)", [.integer((now - 2 * day) * 1000)])
        try db.execute("INSERT INTO background_jobs (id, session_id, prompt, created_at) VALUES ('j3', 'new-s', 'p', ?)", [.integer(now - 2 * day)])
        try db.close()

        let result = try runExport(path, into: dir, selection: SessionSelection(olderThan: try Age(parsing: "7d")),
                                   now: Date(timeIntervalSince1970: TimeInterval(now)))
        let manifest = try #require(result.manifest)
        #expect(Set(manifest.sessions.map(\.id)) == ["old-ms", "old-s", "new-with-old-job"])
        #expect(manifest.selection?.cutoff == now - 7 * day)
        #expect(manifest.rows(of: "background_jobs") == 1)
    }

    @Test func nothingMatchingWritesNothing() throws {
        let dir = TemporaryDirectory("partial")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let result = try runExport(fixture.path, into: dir, selection: SessionSelection(projects: ["/no/such/project"]))
        #expect(result.archivePath == nil)
        // Only the database (and the -wal/-shm files SQLite keeps for a WAL database) are there.
        #expect(dir.contents().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") } == ["appdata.db"])
    }

    @Test func unknownSessionIsNamed() throws {
        let dir = TemporaryDirectory("partial")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let error = #expect(throws: BackupError.self) {
            try runExport(fixture.path, into: dir, selection: SessionSelection(sessionIDs: [fixture.sessionIDs[0], "no-such-id"]))
        }
        #expect(error?.code == .noInput)
        #expect(error?.message.contains("'no-such-id'") == true)
        #expect(!dir.contents().contains("out.tar.zst"))
    }
}

