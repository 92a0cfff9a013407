import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

@Suite struct CleanupCLITests {
    /// Dry run, then the real run uploading to WebDAV: the archive is checked there before the delete.
    @Test func dryRunThenCleanupToARemote() throws {
        let dir = TemporaryDirectory("cleanup-cli")
        let fixture = try Fixtures.database(in: dir, bytes: 1_500_000, seed: 61)
        let before = try Connection(path: fixture.path, mode: .readOnly).scalar("SELECT count(*) FROM background_jobs").int64 ?? 0

        let dry = try ptc(["cleanup", "--db", fixture.path, "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let plan = try jsonResult(CleanupReport.self, dry.stdout)
        let toDelete = plan.toDelete["background_jobs"] ?? 0
        #expect(toDelete > 0 && plan.archive == nil && plan.dryRun)
        #expect(dir.contents().allSatisfy { !$0.hasSuffix(".tar.zst") })

        let server = try RcloneWebDAV.shared()
        let remote = "webdav+\(server.baseURL)/cleanup-cli/"
        // A refused upload deletes nothing.
        let refused = try ptc(["cleanup", "--db", fixture.path, "--output", dir.path, "--to", remote],
                              extra: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": "wrong"])
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(try Connection(path: fixture.path, mode: .readOnly).scalar("SELECT count(*) FROM background_jobs").int64 == before)

        let run = try ptc(["cleanup", "--db", fixture.path, "--output", dir.path, "--to", remote, "--json"],
                          extra: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try jsonResult(CleanupReport.self, run.stdout)
        let archive = try #require(report.archive)
        #expect(archive.contains("-cleanup")) // -cleanup-2 after the refused run's archive of the same second
        #expect(report.uploadedTo?.hasPrefix(remote) == true)
        #expect(report.deleted["background_jobs"] == toDelete)
        #expect(try Connection(path: fixture.path, mode: .readOnly).scalar("SELECT count(*) FROM background_jobs").int64 == before - toDelete)
        let inspect = try ptc(["inspect", archive, "--json"])
        #expect(try jsonResult(InspectReport.self, inspect.stdout).manifest.kind == .cleanup)
    }
}

extension CleanupCLITests {
    /// SIGKILL at any point of a cleanup: the database holds either all its jobs or exactly all but the
    /// deleted ones, and when any were deleted a complete archive of them exists under its final name.
    @Test func killedAtAnyPointLosesNothing() throws {
        let dir = TemporaryDirectory("cleanup-kill")
        let template = try Fixtures.database(in: dir, name: "template.db", bytes: 6_000_000, seed: 72, maxTerminalLog: 1_000_000)
        let all = Set(try Connection(path: template.path, mode: .readOnly).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })
        var generator = SystemRandomNumberGenerator()
        var sawPartial = false
        for round in 0..<5 {
            let work = dir.file("round\(round)")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false)
            let db = work + "/appdata.db"
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: template.path + suffix) {
                try FileManager.default.copyItem(atPath: template.path + suffix, toPath: db + suffix)
            }
            var env = ProcessInfo.processInfo.environment
            env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
            let running = try Binary.start(Binary.ptcBackup, ["cleanup", "--db", db, "--output", work, "--quiet"], environment: env)
            usleep(UInt32(Double.random(in: 0.01...0.4, using: &generator) * 1_000_000))
            running.kill(SIGKILL)
            _ = try? running.wait(timeout: 30)
            // The next writer (the app) rolls back an interrupted delete.
            let left = Set(try Connection(path: db, mode: .readWrite).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })
            let gone = all.subtracting(left)
            #expect(left.isSubset(of: all))
            let archives = try FileManager.default.contentsOfDirectory(atPath: work).filter { $0.hasSuffix("-cleanup.tar.zst") }
            for archive in archives {
                #expect(try ptc(["verify", work + "/" + archive, "--quiet"]).status == 0, "\(archive)")
            }
            if !gone.isEmpty {
                sawPartial = true
                let archive = try #require(archives.first, "jobs were deleted without an archive")
                let inside = work + "/inside.db"
                try ArchiveFixture.extractDatabase(work + "/" + archive, to: inside)
                let archived = Set(try Connection(path: inside, mode: .readOnly).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })
                #expect(gone.isSubset(of: archived))
            }
        }
        if !sawPartial { print("note: no kill landed after the delete this time") }
    }
}

extension CleanupCLITests {
    /// The app keeps committing while a cleanup runs: none of its commits is lost, and the cleanup's
    /// delete, one short transaction, waits its turn.
    @Test func theAppWritingMeanwhileLosesNothing() throws {
        let dir = TemporaryDirectory("cleanup-writer")
        let fixture = try Fixtures.database(in: dir, bytes: 3_000_000, seed: 73)
        let writer = try AppWriter.start(database: fixture.path, seconds: 60, stopFile: dir.file("stop"), readyFile: dir.file("ready"))
        let run = try ptc(["cleanup", "--db", fixture.path, "--output", dir.path, "--json"])
        _ = FileManager.default.createFile(atPath: dir.file("stop"), contents: Data())
        _ = try writer.wait(timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try jsonResult(CleanupReport.self, run.stdout)
        #expect((report.deleted["background_jobs"] ?? 0) > 0)
        let db = try Connection(path: fixture.path, mode: .readWrite)
        #expect(try db.scalar("SELECT max(n) = count(*) AND count(*) = (SELECT value FROM key_value_store WHERE key = 'ptc_writer_n') FROM ptc_writer_log").int64 == 1)
        #expect(try db.scalar("SELECT count(*) FROM ptc_writer_log").int64 ?? 0 > 0)
        try db.close()
    }
}

extension CleanupCLITests {
    static func jobs(_ path: String) throws -> Set<String> {
        // Read-write: the next writer rolls back an interrupted delete, as the app would.
        Set(try Connection(path: path, mode: .readWrite).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })
    }

    /// SIGKILL at the steps that matter: once the archive is published (before its check and the delete),
    /// once the upload is on the remote (before the delete), and just after, into the delete.
    @Test func killedAtEachStepLeavesTheDatabaseWholeOrCleanedAndTheArchiveComplete() throws {
        let dir = TemporaryDirectory("cleanup-steps")
        let template = try Fixtures.database(in: dir, name: "template.db", bytes: 6_000_000, seed: 74, maxTerminalLog: 1_000_000)
        let all = try Self.jobs(template.path)
        func fresh(_ name: String) throws -> (db: String, out: String) {
            let out = dir.file(name)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            try FileManager.default.copyItem(atPath: template.path, toPath: out + "/appdata.db")
            return (out + "/appdata.db", out)
        }
        func archives(_ folder: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix("-cleanup.tar.zst") }
        }

        // 1. The archive is there: nothing is deleted yet, and the archive is whole.
        let first = try fresh("published")
        #expect(try ptcKilled(["cleanup", "--db", first.db, "--output", first.out, "--quiet"]) { !archives(first.out).isEmpty })
        #expect(try Self.jobs(first.db) == all)
        for archive in archives(first.out) { #expect(try ptc(["verify", first.out + "/" + archive, "--quiet"]).status == 0) }

        // 2. The upload is on the remote: still nothing deleted.
        let server = try RcloneWebDAV.shared()
        let second = try fresh("uploaded")
        let remoteFolder = server.root.file("cleanup-steps")
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        _ = try ptcKilled(["cleanup", "--db", second.db, "--output", second.out, "--to", "webdav+\(server.baseURL)/cleanup-steps/", "--quiet"],
                            extra: credentials) { !archives(remoteFolder).isEmpty }
        #expect(try Self.jobs(second.db) == all)

        // 3. Into the delete: all jobs, or exactly the archived ones gone, never a mix, never without the archive.
        for delay in [0, 2_000, 5_000, 10_000, 20_000] as [UInt32] {
            let run = try fresh("delete-\(delay)")
            _ = try ptcKilled(["cleanup", "--db", run.db, "--output", run.out, "--quiet"]) {
                guard !archives(run.out).isEmpty else { return false }
                usleep(delay)
                return true
            }
            let left = try Self.jobs(run.db)
            if left != all {
                let archive = try #require(archives(run.out).first, "jobs went without an archive")
                #expect(try ptc(["verify", run.out + "/" + archive, "--quiet"]).status == 0)
                let inside = run.out + "/inside.db"
                try ArchiveFixture.extractDatabase(run.out + "/" + archive, to: inside)
                #expect(all.subtracting(left).isSubset(of: Set(try Connection(path: inside, mode: .readOnly).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })))
            }
        }
    }
}
