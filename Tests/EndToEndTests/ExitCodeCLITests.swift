import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// Exit codes and error lines of inputs the tool must refuse (issue 9, part 3): each case checks the
/// code, the one line on stderr, nothing on stdout, and that nothing was left behind.
@Suite struct ExitCodeCLITests {
    func ptc(_ arguments: [String], cwd: String? = nil) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        return try Binary.run(Binary.ptcBackup, arguments, environment: env, currentDirectory: cwd)
    }

    /// The only line on stderr, which must start with `prefix`.
    func errorLine(_ result: ProcessResult, prefix: String = "ptc-backup: error: ") -> String {
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1 && lines.first?.hasPrefix(prefix) == true, "stderr: \(result.stderr)")
        return lines.first.map(String.init) ?? ""
    }

    @Test func remapWithARelativePathIsUsage() throws {
        let dir = TemporaryDirectory("exit-remap")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)
        let before = dir.contents()
        for remap in ["/home/ana/code=code", "code=/home/ana/code"] {
            let result = try ptc(["import", archive, "--db", dir.file("target.db"), "--remap", remap])
            #expect(result.status == 64, "\(remap): \(result.stderr)")
            #expect(result.stdout == "")
            #expect(result.stderr.hasPrefix("Error: invalid --remap '\(remap)': "), "\(result.stderr)")
            #expect(result.stderr.contains("is a relative path"), "\(result.stderr)")
        }
        #expect(dir.contents() == before)
    }
}
