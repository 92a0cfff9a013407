import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// SIGKILL export, verify and import the moment their temporary files exist, and 5, 30 and 100 ms later:
/// whatever a killed run leaves behind (hidden
/// temporary archives and snapshots, extraction folders), the next run on the same folder removes it, and
/// no file ever appears under a final name half-written.
@Suite(.serialized) struct CrashLeftoverTests {
    /// Names this tool gives temporary files and folders.
    static func leftovers(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.hasPrefix("ptc-backup-verify-") || ($0.hasPrefix(".") && ($0.contains(".tmp-") || $0.contains(".snapshot-")))
        }.sorted()
    }

    @Test func theNextRunCleansWhatAKilledRunLeft() throws {
        let dir = TemporaryDirectory("crash")
        let source = try Fixtures.database(in: dir, name: "source.db", bytes: 12_000_000, seed: 51, maxTerminalLog: 1_000_000)
        let out = dir.file("out")
        let scratch = dir.file("scratch")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        let archive = dir.file("base.tar.zst")
        #expect(try ptc(["export", "--db", source.path, "--output", archive, "--quiet"]).status == 0)
        let target = dir.file("target.db")
        #expect(try ptc(["import", archive, "--db", target, "--mode", "restore", "--quiet"]).status == 0)

        // Each run is killed the moment its temporary files exist, then later and later.
        for delay in [0, 5_000, 30_000, 100_000] as [UInt32] {
            func after(_ found: @autoclosure () -> Bool) -> Bool {
                guard found() else { return false }
                usleep(delay)
                return true
            }
            // Export: hidden archive and snapshot beside the final name.
            try ptcKilled(["export", "--db", source.path, "--output", out + "/", "--quiet", "--nice", "0"]) { after(!Self.leftovers(in: out).isEmpty) }
            for name in (try FileManager.default.contentsOfDirectory(atPath: out)) where !name.hasPrefix(".") {
                // Anything under a final name is a whole archive.
                #expect(try ptc(["verify", out + "/" + name, "--quiet"]).status == 0, "\(name)")
            }
            #expect(try ptc(["export", "--db", source.path, "--output", out + "/", "--quiet", "--nice", "0"]).status == 0)
            #expect(Self.leftovers(in: out) == [])

            // Verify: the extraction folder.
            if delay == 0 {
                #expect(try ptcKilled(["verify", archive, "--tmp-dir", scratch, "--quiet"]) { !Self.leftovers(in: scratch).isEmpty })
                #expect(!Self.leftovers(in: scratch).isEmpty, "the killed verify left its folder")
            } else {
                try ptcKilled(["verify", archive, "--tmp-dir", scratch, "--quiet"]) { after(!Self.leftovers(in: scratch).isEmpty) }
            }
            #expect(try ptc(["verify", archive, "--tmp-dir", scratch, "--quiet"]).status == 0)
            #expect(Self.leftovers(in: scratch) == [])

            // Import: extraction folder, safety archive and its snapshot, all beside the target.
            try ptcKilled(["import", archive, "--db", target, "--mode", "restore", "--force", "--quiet"]) { after(!Self.leftovers(in: dir.path).isEmpty) }
            // An export never writes to its source: one that meets the hot journal says what to do (75).
            let export = try ptc(["export", "--db", target, "--output", scratch + "/", "--quiet"])
            #expect(export.status == 0 || (export.status == 75 && export.stderr.contains("hot journal")), "\(export.stderr)")
            // A kill inside the restore's transaction leaves a hot journal, which the next writer (the
            // app, or the next import) rolls back: the target is whole again.
            #expect(try value(target, "PRAGMA quick_check") == "ok")
            #expect(try ptc(["import", archive, "--db", target, "--mode", "restore", "--force", "--quiet"]).status == 0)
            #expect(Self.leftovers(in: dir.path) == [])
        }
    }

    func value(_ path: String, _ sql: String) throws -> String? {
        let db = try Connection(path: path, mode: .readWrite)
        defer { try? db.close() }
        return try db.scalar(sql).string
    }
}
