import BackupTestSupport
import Foundation
import Testing

/// An interrupted run leaves no lock object on its remote for others to wait out.
@Suite struct InterruptedLockTests {
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalReleasesTheRemoteLock(signal: Int32) throws {
        let dir = TemporaryDirectory("lock-signal")
        let fixture = try Fixtures.database(in: dir, bytes: 20_000_000, seed: 91, maxTerminalLog: 2_000_000)
        let server = try RcloneWebDAV.shared()
        let folder = "lock-signal-\(signal)"
        let remote = "webdav+\(server.baseURL)/\(folder)/"
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        env["PTC_WEBDAV_USER"] = server.user
        env["PTC_WEBDAV_PASSWORD"] = server.password
        func locks() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: server.root.file(folder))) ?? []).filter { $0.hasPrefix("ptc-backup-lock-") }
        }
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        // The export holds the remote's lock while it snapshots: interrupt it then.
        let running = try Binary.start(Binary.ptcBackup, ["export", "--db", fixture.path, "--output", out + "/", "--to", remote, "--keep", "--nice", "0"],
                                       environment: env)
        let deadline = Date().addingTimeInterval(30)
        while locks().isEmpty && running.process.isRunning && Date() < deadline { usleep(1000) }
        #expect(!locks().isEmpty, "the export never held the lock")
        running.kill(signal)
        let result = try running.wait(timeout: 60)
        #expect(result.status == 128 + signal || result.status == 0, "\(result.stderr)")
        #expect(locks() == [], "lock objects left: \(locks()); status \(result.status): \(result.stderr)")
    }
}
