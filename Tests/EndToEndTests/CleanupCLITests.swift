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
        let plan = try JSONDecoder().decode(CleanupReport.self, from: Data(dry.stdout.utf8))
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
        let report = try JSONDecoder().decode(CleanupReport.self, from: Data(run.stdout.utf8))
        let archive = try #require(report.archive)
        #expect(archive.contains("-cleanup")) // -cleanup-2 after the refused run's archive of the same second
        #expect(report.uploadedTo?.hasPrefix(remote) == true)
        #expect(report.deleted["background_jobs"] == toDelete)
        #expect(try Connection(path: fixture.path, mode: .readOnly).scalar("SELECT count(*) FROM background_jobs").int64 == before - toDelete)
        let inspect = try ptc(["inspect", archive, "--json"])
        #expect(try JSONDecoder().decode(InspectReport.self, from: Data(inspect.stdout.utf8)).manifest.kind == .cleanup)
    }
}
