import BackupTestSupport
import Foundation
import Testing

/// Progress as the built tool reports it: `--progress json` lines on stderr in the order the work is
/// done, nothing when piped or `--quiet`.
@Suite struct ProgressCLITests {
    struct Line: Decodable, Equatable {
        var phase: String
        var done: Int64
        var total: Int64?
        var rate: Double?
        var eta: Double?
    }

    func lines(_ stderr: String) throws -> [Line] {
        // Warnings and retries stay text lines (`ptc-backup: ...`), like errors.
        try stderr.split(separator: "\n").filter { !$0.hasPrefix("ptc-backup: ") }.map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
    }

    /// At a high --level the one-pass export spends most of its time compressing after the snapshot is
    /// taken: progress says `compress` with bytes until every byte is in, and only then `check`.
    @Test func exportAtHighLevelReportsCompressThenCheck() throws {
        let dir = TemporaryDirectory("progress")
        let fixture = try Fixtures.database(in: dir, bytes: 3_000_000)
        let started = Date()
        let export = try ptc(["export", "--db", fixture.path, "--output", dir.path + "/", "--level", "19", "--progress", "json"])
        let seconds = Date().timeIntervalSince(started)
        #expect(export.status == 0, "\(export.stderr)")
        let events = try lines(export.stderr)
        let compress = events.filter { $0.phase == "compress" }
        let total = try #require(compress.last?.total)
        #expect(total == FileManager.default.sizeOfFile(fixture.path))
        #expect(compress.last?.done == total)
        #expect(compress.count >= 2)
        #expect(zip(compress, compress.dropFirst()).allSatisfy { $0.done <= $1.done })
        // Phases in order, each once: compress, then check (spinner: total unknown).
        #expect(events.map(\.phase).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } } == ["compress", "check"])
        #expect(events.last == Line(phase: "check", done: 0, total: nil, rate: nil, eta: nil))
        // At most 10 updates a second, besides each phase's first and last.
        #expect(Double(events.count) <= seconds * 10 + 4, "\(events.count) lines in \(seconds) s")
        // A rate and an ETA once the compressor has run half a second.
        if seconds > 1.5 { #expect(compress.contains { $0.rate != nil && $0.eta != nil }) }
    }

    @Test func verifyAndRestoreReportTheirPhases() throws {
        let dir = TemporaryDirectory("progress")
        let fixture = try Fixtures.database(in: dir, bytes: 400_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)

        let verify = try ptc(["verify", archive, "--progress", "json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        let verifyPhases = try lines(verify.stderr).map(\.phase)
        #expect(verifyPhases.first == "verify" && verifyPhases.last == "check")

        let restore = try ptc(["import", archive, "--db", dir.file("new.db"), "--mode", "restore", "--progress", "json"])
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try lines(restore.stderr)
        #expect(restored.contains { $0.phase == "restore" && $0.total != nil && $0.done == $0.total })
    }

    /// push and pull report the bytes curl moves: `upload`/`download` up to the archive's size, each
    /// state once (curl repeats its counts many times a second).
    @Test func pushAndPullReportTheirBytes() throws {
        let dir = TemporaryDirectory("progress")
        let fixture = try Fixtures.database(in: dir, bytes: 3_000_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--level", "1", "--quiet"]).status == 0)
        let size = try #require(FileManager.default.sizeOfFile(archive))
        let server = try RcloneWebDAV(authenticate: false)
        let folder = "webdav+\(server.baseURL)/progress-\(UInt32.random(in: 0...UInt32.max))/"

        let push = try ptc(["push", archive, folder, "--progress", "json"])
        #expect(push.status == 0, "\(push.stderr)")
        let sent = try lines(push.stderr)
        #expect(sent.allSatisfy { $0.phase == "upload" && $0.total == size })
        #expect(sent.first?.done == 0 && sent.last?.done == size)
        #expect(Set(sent.map(\.done)).count == sent.count)

        let pull = try ptc(["pull", folder + "a.tar.zst", "-o", dir.file("b.tar.zst"), "--progress", "json"])
        #expect(pull.status == 0, "\(pull.stderr)")
        let received = try lines(pull.stderr)
        #expect(received.allSatisfy { $0.phase == "download" && $0.total == size })
        #expect(received.last?.done == size)
        withExtendedLifetime(server) {}
    }

    /// On a terminal (a pseudo-terminal from `script`): the bar redrawn in place, each frame within the
    /// width (COLUMNS=60, less the last column), and its line cleared before the command's output.
    @Test func barOnATerminal() throws {
        let dir = TemporaryDirectory("progress")
        let fixture = try Fixtures.database(in: dir, bytes: 2_000_000)
        let command = "'\(Binary.ptcBackup)' export --db '\(fixture.path)' --output '\(dir.path)/' --level 19"
        var environment = ProcessInfo.processInfo.environment
        environment["COLUMNS"] = "60"
        environment["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        let result = try Binary.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: environment)
        #expect(result.status == 0, "\(result.stdout)")
        let frames = result.stdout.components(separatedBy: "\r\u{1B}[2K").dropFirst()
        let bars = frames.dropLast()
        #expect(bars.contains { $0.hasPrefix("compress [") && $0.contains("%") }, "\(frames)")
        #expect(bars.allSatisfy { $0.count <= 59 && !$0.contains("\n") }, "\(frames)")
        #expect(frames.last?.hasPrefix("Wrote ") == true, "\(frames)")
    }

    /// Piped (as here: stderr is a pipe) or --quiet: no bar and no control sequences.
    @Test func pipedOrQuietPrintsNoProgress() throws {
        let dir = TemporaryDirectory("progress")
        let fixture = try Fixtures.database(in: dir, bytes: 400_000)
        for extra in [[], ["--quiet"], ["--progress", "none"]] {
            let export = try ptc(["export", "--db", fixture.path, "--output", dir.path + "/"] + extra)
            #expect(export.status == 0)
            #expect(export.stderr == "", "\(extra)")
        }
    }
}

extension FileManager {
    func sizeOfFile(_ path: String) -> Int64? { (try? attributesOfItem(atPath: path)[.size] as? Int64) ?? nil }
}
