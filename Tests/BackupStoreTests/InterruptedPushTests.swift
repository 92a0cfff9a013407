import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// SIGINT and SIGTERM during `ptc-backup push` of a multipart upload to a real S3 server (moto, Ceph
/// radosgw): the process aborts the upload (AbortMultipartUpload) and exits 130 or 143, and what the server
/// then lists (ListMultipartUploads) is empty, with no object under the archive's name.
/// Serialized: each run uploads ~140 MiB on a machine with two cores.
@Suite(.serialized) struct InterruptedPushTests {
    enum Moment: String, Sendable, CaseIterable {
        /// As soon as the upload is listed: the first part is being sent.
        case firstPart
        /// Once the server holds the first part: the second is being sent.
        case afterFirstPart
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var kind: S3TestServer.Kind
        var signal: Int32
        var moment: Moment
        var testDescription: String { "\(kind.rawValue), signal \(signal), \(moment.rawValue)" }
    }

    static let cases: [Case] = [
        Case(kind: .moto, signal: SIGINT, moment: .firstPart), Case(kind: .moto, signal: SIGTERM, moment: .afterFirstPart),
        Case(kind: .radosgw, signal: SIGINT, moment: .afterFirstPart), Case(kind: .radosgw, signal: SIGTERM, moment: .firstPart),
    ]

    /// An archive of three 64 MiB parts: the manifest of a real export, and a body of random bytes (push
    /// reads only the manifest; the server must not get to the end before the signal).
    static func bigArchive(in dir: TemporaryDirectory) throws -> String {
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let small = dir.file("small.tar.zst")
        let export = try ptc(["export", "--db", fixture.path, "--output", small, "--quiet"])
        guard export.status == 0 else { throw TestFailure("export failed: \(export.stderr)") }
        var entries = try ArchiveFixture.entries(of: small)
        entries[entries.count - 1].bytes = TemporaryDirectory.randomBytes(140 << 20)
        let archive = dir.file("plantocode-laptop-20261204T031500Z-full.tar.zst")
        try ArchiveFixture.write(entries, to: archive)
        return archive
    }

    @Test(arguments: cases)
    func signalDuringAMultipartPushAbortsTheUpload(_ test: Case) throws {
        let server = try S3TestServer.shared(test.kind)
        let dir = TemporaryDirectory("interrupt")
        let archive = try Self.bigArchive(in: dir)
        let name = (archive as NSString).lastPathComponent
        let bucket = S3TestServer.uniqueBucket("sig")
        let prefix = test.kind == .moto ? "" : "laptop/nightly" // moto refuses signed queries holding '/'
        let store = try S3Store(S3Store.Configuration(endpoint: server.endpoint, bucket: bucket, prefix: prefix,
                                                      credentials: S3Credentials(accessKey: server.accessKey, secretKey: server.secretKey)))

        var environment = ProcessInfo.processInfo.environment
        for variable in environment.keys where variable.hasPrefix("AWS_") { environment[variable] = nil }
        environment["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        environment["AWS_ACCESS_KEY_ID"] = server.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = server.secretKey
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        environment["TMPDIR"] = dir.path
        let push = try Binary.start(Binary.ptcBackup, ["push", archive, "s3://\(bucket)/\(prefix)", "--endpoint", server.endpoint, "--create-bucket"],
                                    environment: environment)

        // Wait for the moment, looking at the server as another client would.
        var seen: [Leftover] = []
        let deadline = Date().addingTimeInterval(60)
        while push.process.isRunning && Date() < deadline {
            seen = (try? store.incompleteUploads()) ?? []
            if let upload = seen.first, test.moment == .firstPart || upload.bytes > 0 { break }
            usleep(20_000)
        }
        let stillRunning = push.process.isRunning
        push.kill(test.signal)
        let signalled = Date()
        let result = try push.wait(timeout: 60)
        try #require(stillRunning && !seen.isEmpty, "the push ended (\(result.status)) before its upload could be interrupted: \(result.stderr)")

        #expect(result.status == 128 + test.signal, "\(result.stderr)")
        #expect(Date().timeIntervalSince(signalled) < 20)
        #expect(result.stderr.contains("interrupted"))
        #expect(try store.incompleteUploads().isEmpty)
        #expect(try store.stat(name) == nil)
        #expect(!dir.contents().contains { $0.contains(".tmp-") || $0.contains(".part-") })
    }
}
