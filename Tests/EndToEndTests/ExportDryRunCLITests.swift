import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// `export --dry-run`: what would be exported, nothing written, no lock.
@Suite struct ExportDryRunCLITests {
    @Test func fullAndPartialPlansWriteNothingAndEstimateTheSize() throws {
        let dir = TemporaryDirectory("export-dry-run")
        let fixture = try Fixtures.database(in: dir, bytes: 1_500_000, seed: 33, maxTerminalLog: 50_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let before = dir.contents().sorted()
        let tmp = dir.file("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        let env = ["TMPDIR": tmp]

        let full = try ptc(["export", "--db", fixture.path, "--output", out + "/", "--dry-run", "--json"], extra: env)
        #expect(full.status == 0, "\(full.stderr)")
        let plan = try jsonResult(ExportReport.self, full.stdout)
        #expect(plan.dryRun && plan.archive == nil && plan.bytes == nil && plan.kind == .full && plan.database == fixture.path)
        #expect(plan.sessionCount == fixture.sessionIDs.count && Set(plan.sessions.map(\.id)) == Set(fixture.sessionIDs))
        let partialID = fixture.sessionIDs[1]
        let partial = try ptc(["export", "--db", fixture.path, "--session", String(partialID.prefix(8)), "--output", out + "/",
                               "--dry-run", "--json"], extra: env)
        #expect(partial.status == 0, "\(partial.stderr)")
        let partialPlan = try jsonResult(ExportReport.self, partial.stdout)
        #expect(partialPlan.kind == .partial && partialPlan.sessions.map(\.id) == [partialID])
        // Nothing written: no archive, no lock file, no snapshot, nothing left in TMPDIR.
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp) == [])
        // (SQLite itself creates the -wal and -shm of a WAL database any reader opens, as export's reader does.)
        #expect(dir.contents().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.sorted() == (before + ["tmp"]).sorted())

        // The real exports hold what the plans said, at about the sizes estimated.
        for (arguments, planned) in [([String](), plan), (["--session", partialID], partialPlan)] {
            let real = try ptc(["export", "--db", fixture.path, "--output", out + "/", "--json"] + arguments)
            #expect(real.status == 0, "\(real.stderr)")
            let done = try jsonResult(ExportReport.self, real.stdout)
            #expect(done.tables == planned.tables && done.sessions.map(\.id) == planned.sessions.map(\.id))
            let bytes = Double(try #require(done.bytes)), estimated = Double(try #require(planned.estimatedBytes))
            #expect(abs(estimated - bytes) / bytes < 0.35, "estimated \(estimated), wrote \(bytes)")
            sleep(1)  // archives of different seconds
        }

        let text = try ptc(["export", "--db", fixture.path, "--session", partialID, "--dry-run"], extra: env)
        #expect(text.stdout.hasPrefix("Would export \(fixture.path) (dry run; nothing written)"), "\(text.stdout)")
        #expect(text.stdout.contains("partial, 1 sessions") && text.stdout.contains("archive about ") && text.stdout.contains("rows: sessions 1"))
        #expect(text.stdout.contains(String(partialID.prefix(8))))
        let nothing = try ptc(["export", "--db", fixture.path, "--project", "/nowhere", "--dry-run", "--json"], extra: env)
        #expect(nothing.status == 0)
        let none = try jsonResult(ExportReport.self, nothing.stdout)
        #expect(none.sessionCount == 0 && none.kind == nil && none.message?.contains("nothing would be written") == true)
        let refused = try ptc(["export", "--db", fixture.path, "--dry-run", "--to", "webdav+http://127.0.0.1:9/x/"])
        #expect(refused.status == 64 && refused.stderr.contains("--dry-run"))
    }

    /// Usage errors with `--json` are a JSON document too (and stay text on stderr); `--help` stays help.
    @Test func usageErrorsWithJSONAreOneDocument() throws {
        for (arguments, command) in [(["export", "--level", "42", "--json"], "export"), (["sessions", "--json", "--limit", "0"], "sessions"),
                                     (["list", "--json"], "list"), (["--json", "nope"], "ptc-backup")] {
            let result = try ptc(arguments)
            #expect(result.status == 64, "\(arguments)")
            let document = try envelope(NoResult.self, result.stdout)
            #expect(document.command == command && document.exitCode == 64 && !document.ok && document.error?.code == "usage", "\(arguments)")
            #expect(result.stderr.contains("Error: "), "\(arguments): \(result.stderr)")
        }
        let plain = try ptc(["export", "--level", "42"])
        #expect(plain.status == 64 && plain.stdout == "")
        let help = try ptc(["export", "--help", "--json"])
        #expect(help.status == 0 && help.stdout.contains("OVERVIEW"))
    }

    /// A command stopped by SIGTERM with `--json` still prints one document: exit 143, error code interrupted.
    @Test func anInterruptedCommandPrintsOneDocument() throws {
        let dir = TemporaryDirectory("json-interrupted")
        let fixture = try Fixtures.database(in: dir, bytes: 12_000_000, maxTerminalLog: 2_000_000)
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        for attempt in 0..<5 {
            let running = try Binary.start(Binary.ptcBackup, ["export", "--db", fixture.path, "--output", dir.file("out-\(attempt).tar.zst"),
                                                              "--level", "19", "--json"], environment: env)
            usleep(useconds_t(150_000 + attempt * 100_000))
            running.kill(SIGTERM)
            let result = try running.wait()
            if result.status == 0 { continue }  // finished before the signal: try a little earlier next time
            #expect(result.status == 143, "\(result.stderr)")
            let document = try envelope(NoResult.self, result.stdout)
            #expect(document.exitCode == 143 && !document.ok && document.error?.code == "interrupted" && document.command == "export")
            #expect(result.stdout.components(separatedBy: "\"schemaVersion\"").count == 2, "one document: \(result.stdout)")
            return
        }
        Issue.record("every export finished before SIGTERM")
    }
}
