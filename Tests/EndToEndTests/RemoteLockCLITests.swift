import BackupTestSupport
import Foundation
import Testing

/// The lock object on a remote folder (rclone's WebDAV server, whose files the test sees on disk): a live
/// one is respected (75 naming its holder), a stale one or one whose process on this host is gone is taken
/// over, and two real `push` processes contend for it.
@Suite(.serialized) struct RemoteLockCLITests {
    struct Setup {
        let server: RcloneWebDAV
        let dir: TemporaryDirectory
        let folder: String  // the remote folder, on disk
        let remote: String
        let archive: String
        let credentials: [String: String]
    }

    static func setup(_ label: String) throws -> Setup {
        let server = try RcloneWebDAV.shared()
        let dir = TemporaryDirectory(label)
        let db = try Fixtures.database(in: dir, name: "source.db", bytes: 3_000_000, seed: 71)
        let archive = dir.file("plantocode-h-20260101T000000Z-full.tar.zst")
        #expect(try ptc(["export", "--db", db.path, "--output", archive, "--quiet"]).status == 0)
        let sub = "\(label)-\(UUID().uuidString.prefix(8))"
        let folder = server.root.file(sub)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        return Setup(server: server, dir: dir, folder: folder, remote: "webdav+\(server.baseURL)/\(sub)/", archive: archive,
                     credentials: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password])
    }

    /// This machine's name as ptc-backup writes it (first label, anything but letters, digits and `-` as `-`).
    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let full = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let short = full.split(separator: ".").first.map(String.init) ?? full
        return String(short.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
    }

    /// Writes a lock object as another run would have.
    static func plant(in folder: String, host: String, pid: Int32, refreshedAgo: TimeInterval) throws -> String {
        let name = "ptc-backup-lock-\(host)-\(pid)-abc.json"
        let refreshed = Date().timeIntervalSince1970 - refreshedAgo
        let json = #"{"command":"push","host":"\#(host)","pid":\#(pid),"refreshed":\#(refreshed),"since":"2026-01-01T00:00:00Z"}"#
        try json.write(toFile: (folder as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        return name
    }

    static func names(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func aLiveLockIsRespectedByPushExportCleanupAndPrune() throws {
        let s = try Self.setup("rlock-live")
        let lock = try Self.plant(in: s.folder, host: "otherhost", pid: 4242, refreshedAgo: 10)
        let push = try ptc(["push", s.archive, s.remote], extra: s.credentials)
        #expect(push.status == 75, "\(push.stderr)")
        #expect(push.stderr.contains("push (pid 4242 on otherhost, since 2026-01-01T00:00:00Z)"), "\(push.stderr)")
        let waited = try ptc(["push", s.archive, s.remote, "--lock-wait", "2s"], extra: s.credentials)
        #expect(waited.status == 75 && waited.stderr.contains("after waiting 2 s"), "\(waited.stderr)")
        let out = s.dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let export = try ptc(["export", "--db", s.dir.file("source.db"), "--output", out + "/", "--to", s.remote, "--keep"], extra: s.credentials)
        #expect(export.status == 75, "\(export.stderr)")
        #expect(Self.names(in: out) == [], "the remote is locked before any export")
        let cleanup = try ptc(["cleanup", "--db", s.dir.file("source.db"), "--output", out + "/", "--to", s.remote], extra: s.credentials)
        #expect(cleanup.status == 75, "\(cleanup.stderr)")
        #expect(Self.names(in: out) == [])
        let prune = try ptc(["prune", s.remote, "--keep-last", "1"], extra: s.credentials)
        #expect(prune.status == 75, "\(prune.stderr)")
        #expect(Self.names(in: s.folder) == [lock], "nothing written, the other run's lock kept")
        withExtendedLifetime(s.dir) {}
    }

    @Test func exportsStagedInTheTemporaryFolderDoNotWaitForEachOther() throws {
        let s = try Self.setup("rlock-staging")
        let staging = s.dir.file("staging")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        // This test process holds the staging folder's lock, as another run would.
        let fd = open(staging + "/.ptc-backup.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        let export = try ptc(["export", "--db", s.dir.file("source.db"), "--to", s.remote, "--quiet"],
                             extra: s.credentials.merging(["TMPDIR": staging]) { _, new in new })
        #expect(export.status == 0, "\(export.stderr)")
        #expect(Self.names(in: s.folder).count == 1)
        withExtendedLifetime(s.dir) {}
    }

    @Test func aStaleLockIsTakenOver() throws {
        let s = try Self.setup("rlock-stale")
        _ = try Self.plant(in: s.folder, host: "otherhost", pid: 4242, refreshedAgo: 2 * 3600)
        let push = try ptc(["push", s.archive, s.remote], extra: s.credentials)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(Self.names(in: s.folder) == [(s.archive as NSString).lastPathComponent], "the stale lock and ours are gone")
        withExtendedLifetime(s.dir) {}
    }

    @Test func theLockOfAProcessGoneFromThisHostIsTakenOver() throws {
        let s = try Self.setup("rlock-dead")
        let gone = try Binary.start("/bin/true", [])
        _ = try gone.wait()
        _ = try Self.plant(in: s.folder, host: Self.hostName, pid: gone.pid, refreshedAgo: 10)
        // The same lock on another host is respected: only this host's processes can be known gone.
        let elsewhere = try Self.setup("rlock-dead-elsewhere")
        _ = try Self.plant(in: elsewhere.folder, host: Self.hostName + "-other", pid: gone.pid, refreshedAgo: 10)
        #expect(try ptc(["push", elsewhere.archive, elsewhere.remote], extra: elsewhere.credentials).status == 75)

        let push = try ptc(["push", s.archive, s.remote], extra: s.credentials)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(Self.names(in: s.folder) == [(s.archive as NSString).lastPathComponent])
        withExtendedLifetime((s.dir, elsewhere.dir)) {}
    }

    @Test func twoPushesContendOneExits75NamingTheHolder() throws {
        let s = try Self.setup("rlock-two")
        var env = ProcessInfo.processInfo.environment
        env.merge(s.credentials) { _, new in new }
        let first = try Binary.start(Binary.ptcBackup, ["push", s.archive, s.remote, "--quiet"], environment: env)
        let deadline = Date().addingTimeInterval(60)
        var held = false
        while !held && first.process.isRunning && Date() < deadline {
            held = Self.names(in: s.folder).contains { $0.contains("-\(first.pid)-") && $0.hasSuffix(".json") }
            usleep(1000)
        }
        #expect(held)
        first.kill(SIGSTOP)
        let second = try ptc(["push", s.archive, s.remote], extra: s.credentials)
        first.kill(SIGCONT)
        let firstResult = try first.wait()
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("push (pid \(first.pid) on \(Self.hostName)"), "\(second.stderr)")
        #expect(firstResult.status == 0, "\(firstResult.stderr)")
        #expect(Self.names(in: s.folder) == [(s.archive as NSString).lastPathComponent], "the archive there, no lock left")
        withExtendedLifetime(s.dir) {}
    }

    /// Runs boto3 (another client than ours) against `server`: `put BUCKET NAME BODY` creates the bucket and an
    /// object; `list BUCKET` prints the keys, one a line.
    static func boto3(_ server: S3TestServer, _ arguments: [String]) throws -> [String] {
        let script = """
            import sys, os, boto3
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                              aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"])
            if sys.argv[2] == "put":
                try: s3.create_bucket(Bucket=sys.argv[3])
                except s3.exceptions.BucketAlreadyOwnedByYou: pass
                s3.put_object(Bucket=sys.argv[3], Key=sys.argv[4], Body=sys.argv[5].encode())
            else:
                for item in s3.list_objects_v2(Bucket=sys.argv[3]).get("Contents", []): print(item["Key"])
            """
        var environment = ProcessInfo.processInfo.environment
        environment["KEY"] = server.accessKey
        environment["SECRET"] = server.secretKey
        let result = try Binary.run("/usr/bin/env", ["python3", "-c", script, server.endpoint] + arguments, environment: environment)
        guard result.status == 0 else { throw TestFailure("boto3: \(result.stderr.suffix(2000))") }
        return result.stdout.split(separator: "\n").map(String.init).sorted()
    }

    @Test func onMotoALiveLockIsRespectedAndAStaleOneTakenOver() throws {
        let server = try S3TestServer.shared(.moto)
        let dir = TemporaryDirectory("rlock-moto")
        let db = try Fixtures.database(in: dir, name: "source.db", bytes: 1_000_000, seed: 72)
        let archive = dir.file("plantocode-h-20260101T000000Z-full.tar.zst")
        #expect(try ptc(["export", "--db", db.path, "--output", archive, "--quiet"]).status == 0)
        let bucket = S3TestServer.uniqueBucket("rlock")
        let remote = "s3://\(bucket)/"  // moto in IAM mode refuses a signed query holding a slash: no prefix
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "AWS_ENDPOINT_URL": server.endpoint]
        func record(refreshedAgo: TimeInterval) -> String {
            #"{"command":"prune","host":"otherhost","pid":77,"refreshed":\#(Date().timeIntervalSince1970 - refreshedAgo),"since":"2026-01-01T00:00:00Z"}"#
        }

        let live = "ptc-backup-lock-otherhost-77-1.json"
        _ = try Self.boto3(server, ["put", bucket, live, record(refreshedAgo: 60)])
        let refused = try ptc(["push", archive, remote], extra: env)
        #expect(refused.status == 75, "\(refused.stderr)")
        #expect(refused.stderr.contains("prune (pid 77 on otherhost"), "\(refused.stderr)")
        #expect(try Self.boto3(server, ["list", bucket]) == [live])

        _ = try Self.boto3(server, ["put", bucket, live, record(refreshedAgo: 3 * 3600)])
        let push = try ptc(["push", archive, remote], extra: env)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(try Self.boto3(server, ["list", bucket]) == [(archive as NSString).lastPathComponent])
        withExtendedLifetime(dir) {}
    }
}
