import BackupTestSupport
import Foundation
import Testing

/// Two real `ptc-backup` processes on one output folder: the second one exits 75 naming the holder, or
/// waits for it with `--lock-wait`, or takes over the lock a killed holder left; no archive is ever lost.
///
/// The holder is made to hold still with SIGSTOP once its lock file names it, so the overlap is certain
/// rather than a matter of timing; SIGCONT lets it finish.
@Suite(.serialized) struct LockCLITests {
    static func start(_ arguments: [String]) throws -> RunningProcess {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        return try Binary.start(Binary.ptcBackup, arguments, environment: env)
    }

    /// Waits (at most 60 s) until the lock file at `path` names `pid`, while that process runs.
    static func held(_ path: String, by process: RunningProcess) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while process.process.isRunning && Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.contains("\"pid\":\(process.pid),") { return true }
            usleep(1000)
        }
        return false
    }

    /// Starts an export into `s`'s folder and stops it (SIGSTOP) once its lock file names it: the holder.
    static func pausedHolder(_ s: Setup, sourceLocation: SourceLocation = #_sourceLocation) throws -> RunningProcess {
        let holder = try start(s.export)
        #expect(held(s.lockFile, by: holder), sourceLocation: sourceLocation)
        holder.kill(SIGSTOP)
        return holder
    }

    /// The archives in `dir` are `count` and each one verifies.
    static func expectArchivesVerify(in dir: String, count: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let names = archives(in: dir)
        #expect(names.count == count, "\(names)", sourceLocation: sourceLocation)
        for name in names { #expect(try ptc(["verify", dir + "/" + name, "--quiet"]).status == 0, "\(name)", sourceLocation: sourceLocation) }
    }

    /// The archives (names that are not hidden) in `dir`.
    static func archives(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    struct Setup {
        let dir: TemporaryDirectory
        let db: String
        let out: String
        var lockFile: String { out + "/.ptc-backup.lock" }
        var export: [String] { ["export", "--db", db, "--output", out + "/", "--quiet", "--nice", "0"] }
    }

    static func setup(_ label: String) throws -> Setup {
        let dir = TemporaryDirectory(label)
        let db = try Fixtures.database(in: dir, name: "source.db", bytes: 12_000_000, seed: 61, maxTerminalLog: 1_000_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        return Setup(dir: dir, db: db.path, out: out)
    }

    @Test func aSecondExportIntoTheSameFolderExits75NamingTheHolderAndNoArchiveIsLost() throws {
        let s = try Self.setup("lock-contend")
        let first = try Self.pausedHolder(s)
        let second = try ptc(s.export)
        first.kill(SIGCONT)
        let firstResult = try first.wait()

        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("pid \(first.pid) on "), "\(second.stderr)")
        #expect(second.stderr.contains("since "), "\(second.stderr)")
        #expect(second.stderr.contains("--lock-wait"), "\(second.stderr)")
        #expect(firstResult.status == 0, "\(firstResult.stderr)")
        try Self.expectArchivesVerify(in: s.out, count: 1)
        #expect(!FileManager.default.fileExists(atPath: s.lockFile), "the lock file goes with its holder")
        withExtendedLifetime(s.dir) {}
    }

    @Test func withLockWaitTheSecondRunWaitsForTheHolderThenSucceeds() throws {
        let s = try Self.setup("lock-wait")
        let first = try Self.pausedHolder(s)
        Thread.sleep(forTimeInterval: 1.1)  // a different second: the archives' names differ
        let second = try Self.start(s.export + ["--lock-wait", "2m"])
        Thread.sleep(forTimeInterval: 1.5)
        #expect(second.process.isRunning, "the second run waits while the first holds the folder")
        first.kill(SIGCONT)
        let firstResult = try first.wait()
        let secondResult = try second.wait()

        #expect(firstResult.status == 0, "\(firstResult.stderr)")
        #expect(secondResult.status == 0, "\(secondResult.stderr)")
        try Self.expectArchivesVerify(in: s.out, count: 2)
        withExtendedLifetime(s.dir) {}
    }

    @Test func lockWaitRunsOutThenExits75() throws {
        let s = try Self.setup("lock-timeout")
        let first = try Self.pausedHolder(s)
        let started = Date()
        let second = try ptc(s.export + ["--lock-wait", "2s"])
        let waited = Date().timeIntervalSince(started)
        first.kill(SIGCONT)
        #expect(try first.wait().status == 0)

        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("pid \(first.pid) on ") && second.stderr.contains("after waiting 2 s"), "\(second.stderr)")
        #expect(waited >= 2, "\(waited)")
        #expect(Self.archives(in: s.out).count == 1)
        withExtendedLifetime(s.dir) {}
    }

    @Test func theLockOfAKilledHolderIsTakenOver() throws {
        let s = try Self.setup("lock-takeover")
        let first = try Self.start(s.export)
        #expect(Self.held(s.lockFile, by: first))
        first.kill(SIGKILL)
        _ = try? first.wait()
        // The killed run's lock file stays, naming it; the kernel dropped its lock.
        let left = try String(contentsOfFile: s.lockFile, encoding: .utf8)
        #expect(left.contains("\"pid\":\(first.pid),"))

        let second = try ptc(s.export)
        #expect(second.status == 0, "\(second.stderr)")
        try Self.expectArchivesVerify(in: s.out, count: 1)
        #expect(!FileManager.default.fileExists(atPath: s.lockFile))
        withExtendedLifetime(s.dir) {}
    }

    @Test func anImportHoldsTheDatabaseAgainstCleanupMigrateAndAnotherImport() throws {
        let s = try Self.setup("lock-db")
        let archive = s.dir.file("base.tar.zst")
        #expect(try ptc(["export", "--db", s.db, "--output", archive, "--quiet"]).status == 0)
        let target = s.dir.file("target.db")
        #expect(try ptc(["import", archive, "--db", target, "--mode", "restore", "--quiet"]).status == 0)

        let first = try Self.start(["import", archive, "--db", target, "--mode", "restore", "--force", "--quiet"])
        let lockFile = target + ".ptc-backup.lock"
        #expect(Self.held(lockFile, by: first))
        first.kill(SIGSTOP)
        for arguments in [["import", archive, "--db", target, "--mode", "merge", "--quiet"],
                          ["migrate", "--db", target, "--quiet"],
                          ["cleanup", "--db", target, "--output", s.out + "/", "--quiet"]] {
            let result = try ptc(arguments)
            #expect(result.status == 75, "\(arguments[0]): \(result.stderr)")
            #expect(result.stderr.contains("import (pid \(first.pid) on "), "\(arguments[0]): \(result.stderr)")
        }
        first.kill(SIGCONT)
        #expect(try first.wait().status == 0)
        #expect(try ptc(["migrate", "--db", target, "--quiet"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: lockFile))
        withExtendedLifetime(s.dir) {}
    }

    @Test func pruneTakesTheFolderLock() throws {
        let s = try Self.setup("lock-prune")
        let first = try Self.pausedHolder(s)
        let prune = try ptc(["prune", s.out, "--keep-last", "1", "--quiet"])
        let dryRun = try ptc(["prune", s.out, "--keep-last", "1", "--dry-run", "--quiet"])
        first.kill(SIGCONT)
        #expect(try first.wait().status == 0)
        #expect(prune.status == 75, "\(prune.stderr)")
        #expect(prune.stderr.contains("export (pid \(first.pid) on "), "\(prune.stderr)")
        #expect(dryRun.status == 0, "a dry run changes nothing and takes no lock: \(dryRun.stderr)")
        #expect(try ptc(["prune", s.out, "--keep-last", "1", "--quiet"]).status == 0)
        withExtendedLifetime(s.dir) {}
    }
}
