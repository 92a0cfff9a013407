import BackupTestSupport
import Foundation
import Testing

/// Long runs, skipped unless PTC_STRESS=1: repeated full exports of a larger database while an app-like
/// writer commits flat out; every archive must verify and hold one committed state of the writer.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["PTC_STRESS"] == "1"))
struct StressTests {
    @Test func exportsUnderAContinuousWriterAlwaysVerify() throws {
        let dir = TemporaryDirectory("stress")
        let rounds = Int(ProcessInfo.processInfo.environment["PTC_STRESS_ROUNDS"] ?? "") ?? 10
        let fixture = try Fixtures.database(in: dir, bytes: 150_000_000, seed: 99, maxTerminalLog: 3_000_000)
        let writer = try AppWriter.start(database: fixture.path, seconds: 3600, stopFile: dir.file("stop"), readyFile: dir.file("ready"))
        defer {
            _ = FileManager.default.createFile(atPath: dir.file("stop"), contents: Data())
            _ = try? writer.wait(timeout: 60)
        }
        var fallbacks = 0
        for round in 1...rounds {
            let archive = dir.file("round-\(round).tar.zst")
            let export = try Binary.run(Binary.ptcBackup, ["export", "--db", fixture.path, "--output", archive, "-v"], timeout: 600)
            #expect(export.status == 0, "round \(round): \(export.stderr)")
            if export.stderr.contains("packing the snapshot again") { fallbacks += 1 }
            let verify = try Binary.run(Binary.ptcBackup, ["verify", archive, "--quiet"], timeout: 600)
            #expect(verify.status == 0, "round \(round): \(verify.stderr)")
            let state = try Binary.run("/bin/sh", ["-c", """
                set -e; d=$(mktemp -d); cd "$d"; tar -I zstd -xf "$0" appdata.db
                sqlite3 appdata.db "SELECT max(n) = count(*) AND count(*) = (SELECT value FROM key_value_store WHERE key = 'ptc_writer_n') FROM ptc_writer_log"
                rm -rf "$d"
                """, archive])
            #expect(state.stdout == "1\n", "round \(round): the archive does not hold one committed state: \(state.stdout) \(state.stderr)")
            try FileManager.default.removeItem(atPath: archive)
        }
        print("stress: \(rounds) rounds, \(fallbacks) packed again from the start")
        // The one-pass export must hold under a busy writer: a fall-back to packing again is a regression.
        #expect(fallbacks == 0, "\(fallbacks) of \(rounds) exports packed the snapshot again from the start")
    }
}
