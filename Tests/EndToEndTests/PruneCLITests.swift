import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// `ptc-backup prune` as a user runs it: real archives copied under dated names, the table, `--json`,
/// exit codes, and what is left verifies.
@Suite struct PruneCLITests {
    @Test func prunesRealArchivesAndWhatStaysVerifies() throws {
        let dir = TemporaryDirectory("prune-cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let out = dir.file("backups")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let export = try ptc(["export", "--db", fixture.path, "--output", out + "/", "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let exported = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first)
        let host = try #require(ArchiveName(parsing: exported)).host
        let names = ["20260103T120000Z", "20260102T120000Z", "20260101T120000Z", "20251231T120000Z"].map {
            ArchiveName(host: host, time: $0, kind: "full").fileName
        }
        for name in names { try FileManager.default.copyItem(atPath: out + "/" + exported, toPath: out + "/" + name) }
        try FileManager.default.removeItem(atPath: out + "/" + exported)

        let dry = try ptc(["prune", out, "--keep-last", "1", "--keep-yearly", "2", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let lines = dry.stdout.split(separator: "\n").map(String.init)
        let width = names[0].count + 2
        func row(_ name: String, _ rest: String) -> String { name.padding(toLength: width, withPad: " ", startingAt: 0) + rest }
        let expected: [String] = [row("ARCHIVE", "ACTION  REASONS"), row(names[0], "keep    last 1, yearly 1"), row(names[1], "remove"),
                                  row(names[2], "remove"), row(names[3], "keep    yearly 2")]
        #expect(Array(lines.prefix(5)) == expected)
        #expect(lines.last?.hasPrefix("Dry run: would remove 2 archives") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).count == 4)

        let run = try ptc(["prune", out, "--keep-last", "1", "--keep-yearly", "2", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try envelope(PruneReport.self, run.stdout).command == "prune")
        let report = try jsonResult(PruneReport.self, run.stdout)
        #expect(!report.dryRun)
        #expect(report.policy == "--keep-last 1 --keep-yearly 2")
        #expect(report.archives.filter(\.deleted).map(\.name) == [names[1], names[2]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == [names[3], names[0]])
        for name in [names[0], names[3]] {
            #expect(try ptc(["verify", out + "/" + name, "--quiet"]).status == 0)
        }
    }

    @Test func noPolicyIsAUsageError() throws {
        let dir = TemporaryDirectory("prune-cli-usage")
        let result = try ptc(["prune", dir.path])
        #expect(result.status == 64)
        #expect(result.stderr.contains("prune never deletes everything"))
        #expect(result.stdout.isEmpty)
        #expect(try ptc(["prune", dir.path, "--keep-last", "-1"]).status == 64)
        #expect(try ptc(["prune", dir.path, "--keep-within", "3x"]).status == 64)
        #expect(try ptc(["prune", dir.file("missing"), "--keep-last", "1"]).status == 66)
    }

    /// A folder entry that cannot be removed stops the run: one JSON document that names what went, the
    /// error line on stderr, a non-zero exit.
    @Test func aFailureHalfwayIsReportedOnce() throws {
        let dir = TemporaryDirectory("prune-cli-fail")
        let names = ["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"].map { ArchiveName(host: "h", time: $0, kind: "full").fileName }
        #expect(FileManager.default.createFile(atPath: dir.file(names[0]), contents: Data("x".utf8)))
        try FileManager.default.createDirectory(atPath: dir.file(names[1]), withIntermediateDirectories: false)
        #expect(FileManager.default.createFile(atPath: dir.file(names[2]), contents: Data("x".utf8)))
        let result = try ptc(["prune", dir.path, "--keep-last", "1", "--json"])
        #expect(result.status != 0 && result.status != 64)
        let document = try envelope(PruneReport.self, result.stdout)
        let report = try #require(document.result)
        #expect(report.archives.filter(\.deleted).map(\.name) == [names[0]])
        #expect(document.exitCode == result.status && !document.ok && document.error?.message == report.stoppedBy)
        #expect(result.stderr.contains("deleted before it: \(names[0])"))
        #expect(FileManager.default.fileExists(atPath: dir.file(names[1])))
    }
}
