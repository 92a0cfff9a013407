import BackupModel
import BackupTestSupport
import Foundation
import Testing

@Suite struct ImportCLITests {
    @Test func restoreMigrateAndTheirErrors() throws {
        let dir = TemporaryDirectory("import-cli")
        let old = try Fixtures.database(in: dir, name: "old.db", version: Fixtures.allVersions[0], bytes: 200_000)
        let archive = dir.file("old.tar.zst")
        #expect(try ptc(["export", "--db", old.path, "--output", archive, "--quiet"]).status == 0)

        let restore = try ptc(["import", archive, "--db", dir.file("new.db"), "--mode", "restore", "--json"])
        #expect(restore.status == 0, "\(restore.stderr)")
        let report = try jsonResult(ImportReport.self, restore.stdout)
        #expect(report.sessionCount == old.sessionIDs.count && report.sessions.map(\.id).sorted() == old.sessionIDs.sorted() && report.migrations.contains("terminal_sessions_upgrade"))

        let again = try ptc(["import", archive, "--db", dir.file("new.db"), "--mode", "restore"])
        #expect(again.status == 64)
        #expect(again.stderr.contains("--force"))

        #expect(try ptc(["import", archive, "--db", dir.file("new.db"), "--mode", "merge", "--force"]).status == 64)
        #expect(try ptc(["import", dir.file("missing.tar.zst"), "--db", dir.file("new.db"), "--mode", "restore"]).status == 66)

        let migrate = try ptc(["migrate", "--db", old.path, "--json"])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        #expect(try jsonResult(MigrateReport.self, migrate.stdout).applied == report.migrations)
        let twice = try ptc(["migrate", "--db", old.path])
        #expect(twice.status == 0)
        #expect(twice.stdout.contains("already at the current schema"))
    }

    /// The import killed at any moment leaves the target as it was or as the archive has it, never a mix.
    @Test(arguments: ["restore", "merge"])
    func killedAtAnyPointLeavesTheTargetWholeAndCheckable(mode: String) throws {
        let dir = TemporaryDirectory("import-kill")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 8_000_000, seed: 21, maxTerminalLog: 1_000_000)
        let existing = try Fixtures.database(in: dir, name: "target.db", bytes: 3_000_000, seed: 22)
        let archive = dir.file("in.tar.zst")
        #expect(try ptc(["export", "--db", incoming.path, "--output", archive, "--quiet"]).status == 0)
        let pristine = dir.file("pristine.db")
        try FileManager.default.copyItem(atPath: existing.path, toPath: pristine)
        let before = try TableDigest.digests(of: existing.path)
        let after: [String: String]
        let started = Date()
        if mode == "merge" { try FileManager.default.copyItem(atPath: existing.path, toPath: dir.file("probe.db")) }
        let probe = try ptc(["import", archive, "--db", dir.file("probe.db"), "--mode", mode, "--quiet"])
        #expect(probe.status == 0, "\(probe.stderr)")
        // What the target holds after a whole import: the archive's content, or for a merge, that of a
        // merge into the same target done to the end.
        if mode == "restore" {
            after = try TableDigest.digests(of: incoming.path)
        } else {
            try FileManager.default.copyItem(atPath: existing.path, toPath: dir.file("merged.db"))
            #expect(try ptc(["import", archive, "--db", dir.file("merged.db"), "--quiet"]).status == 0)
            after = try TableDigest.digests(of: dir.file("merged.db"))
        }
        let duration = Date().timeIntervalSince(started) + 0.5 // the safety archive adds a little
        var outcomes: Set<String> = []
        for attempt in 0..<8 {
            let process = try Binary.start(Binary.ptcBackup, ["import", archive, "--db", existing.path, "--mode", mode, "--quiet"]
                                           + (mode == "restore" ? ["--force"] : []))
            usleep(useconds_t(duration * Double(attempt) / 8 * 1_000_000))
            process.kill(SIGKILL)
            _ = try process.wait()
            let check = try Binary.run("/usr/bin/env", ["sqlite3", existing.path, "PRAGMA integrity_check"])
            #expect(check.stdout == "ok\n", "attempt \(attempt): \(check.stdout)")
            let now = try TableDigest.digests(of: existing.path)
            #expect(now == before || now == after, "attempt \(attempt): the target is neither its old content nor the archive's")
            outcomes.insert(now == before ? "old" : "new")
            if now == after {
                // Put the old content back for the next attempt.
                let saved = dir.contents().filter { $0.contains("before-restore") && $0.hasSuffix(".tar.zst") }
                for name in saved { try FileManager.default.removeItem(atPath: dir.file(name)) }
                try FileManager.default.removeItem(atPath: existing.path)
                for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: existing.path + suffix) }
                try FileManager.default.copyItem(atPath: pristine, toPath: existing.path)
            }
            for name in dir.contents() where name.hasPrefix(".") { try? FileManager.default.removeItem(atPath: dir.file(name)) }
        }
        #expect(outcomes.contains("old"))
    }

    /// A merge that runs out of room (a file-size limit stands in for a full disk) changes nothing.
    @Test func aMergeThatRunsOutOfRoomChangesNothing() throws {
        let dir = TemporaryDirectory("import-full")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 1_500_000, seed: 61, maxTerminalLog: 100_000)
        let existing = try Fixtures.database(in: dir, name: "target.db", bytes: 1_500_000, seed: 62, maxTerminalLog: 100_000)
        let archive = dir.file("in.tar.zst")
        #expect(try ptc(["export", "--db", incoming.path, "--output", archive, "--quiet"]).status == 0)
        // Rollback-journal mode, so the commit has to grow the database file itself.
        #expect(try Binary.run("/usr/bin/env", ["sqlite3", existing.path, "PRAGMA journal_mode=DELETE"]).stdout == "delete\n")
        let sizes = [incoming.path, existing.path].map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 }
        let limitKiB = (max(sizes[0], sizes[1]) + 300_000) / 1024   // each file fits; the merged target does not
        let before = try TableDigest.digests(of: existing.path)
        let result = try Binary.run("/bin/bash", ["-c", "ulimit -f \(limitKiB); exec \"$0\" \"$@\"", Binary.ptcBackup,
                                                  "import", archive, "--db", existing.path, "--temp-dir", dir.path])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("ptc-backup: error: "))
        #expect(try TableDigest.digests(of: existing.path) == before)
        let check = try Binary.run("/usr/bin/env", ["sqlite3", existing.path, "PRAGMA integrity_check"])
        #expect(check.stdout == "ok\n")
    }

    /// SIGTERM in the middle of an import removes the extracted copy too (it can be as big as the database).
    @Test func anInterruptedImportLeavesNoExtractedCopy() throws {
        let dir = TemporaryDirectory("import-term")
        let incoming = try Fixtures.database(in: dir, name: "incoming.db", bytes: 8_000_000, seed: 71, maxTerminalLog: 1_000_000)
        let archive = dir.file("in.tar.zst")
        #expect(try ptc(["export", "--db", incoming.path, "--output", archive, "--quiet"]).status == 0)
        let scratch = dir.file("scratch")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        var interrupted = 0
        for attempt in 1...4 {
            let target = dir.file("target-\(attempt).db")
            let process = try Binary.start(Binary.ptcBackup, ["import", archive, "--db", target, "--mode", "restore",
                                                              "--temp-dir", scratch, "--quiet"])
            usleep(useconds_t(attempt * 60_000))
            process.kill(SIGTERM)
            let result = try process.wait()
            if result.status == 128 + SIGTERM { interrupted += 1 }
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch) == [], "attempt \(attempt)")
        }
        #expect(interrupted > 0)
    }
}
