import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// push, pull and list against a real WebDAV server (rclone serve webdav on 127.0.0.1).
@Suite struct RemoteCLITests {
    /// ``ptc(_:environment:extra:cwd:timeout:)`` without any credential of the user's: only `extra`'s.
    func ptc(_ arguments: [String], env extra: [String: String]) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        for name in ["PTC_WEBDAV_USER", "PTC_WEBDAV_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"] {
            env[name] = nil
        }
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        env["AWS_CONFIG_FILE"] = "/nonexistent/config"
        return try BackupTestSupport.ptc(arguments, environment: env, extra: extra)
    }

    /// A generated database of about `bytes`, exported to `name` in `dir` (checked to succeed).
    func exportedArchive(in dir: TemporaryDirectory, bytes: Int64, name: String) throws -> String {
        let fixture = try Fixtures.database(in: dir, bytes: bytes)
        let archive = dir.file(name)
        let export = try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"], env: [:])
        #expect(export.status == 0, "\(export.stderr)")
        return archive
    }

    @Test func pushListPullWithCredentialsFromTheEnvironmentOrNetrc() throws {
        let server = try RcloneWebDAV.shared() // each test in a folder of its own
        let dir = TemporaryDirectory("remote-cli")
        let archive = try exportedArchive(in: dir, bytes: 300_000, name: "plantocode-h-20260101T000000Z-full.tar.zst")
        let remote = "webdav+\(server.baseURL)/backups/laptop/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]

        let push = try ptc(["push", archive, remote], env: credentials)
        #expect(push.status == 0, "\(push.stderr)")
        let list = try ptc(["list", remote, "--json"], env: credentials)
        #expect(list.status == 0, "\(list.stderr)")
        let report = try jsonResult(ListReport.self, list.stdout)
        #expect(report.archives.map(\.name) == [(archive as NSString).lastPathComponent])
        #expect(report.archives.first?.kind == .full)

        // The same with ~/.netrc; a file in a folder that does not exist is refused first; a folder named as
        // one (`down/`) is created.
        #expect(try ptc(["pull", remote + (archive as NSString).lastPathComponent, "--output", dir.file("nowhere/x.tar.zst")], env: credentials).status == 73)
        #expect(!FileManager.default.fileExists(atPath: dir.file("nowhere")))
        try "machine 127.0.0.1\n  login \(server.user)\n  password \(server.password)\n".write(toFile: dir.file("netrc"), atomically: true, encoding: .utf8)
        let pull = try ptc(["pull", remote + (archive as NSString).lastPathComponent, "--output", dir.file("down") + "/"],
                           env: ["NETRC": dir.file("netrc")])
        #expect(pull.status == 0, "\(pull.stderr)")
        let pulled = dir.file("down/" + (archive as NSString).lastPathComponent)
        #expect(try Data(contentsOf: URL(fileURLWithPath: pulled)) == Data(contentsOf: URL(fileURLWithPath: archive)))
        #expect(try ptc(["verify", pulled, "--quiet"], env: [:]).status == 0)

        for result in [push, list, pull] {
            #expect(!result.stdout.contains(server.password) && !result.stderr.contains(server.password))
        }
    }

    @Test func remoteFailuresGiveTheirExitCodes() throws {
        let server = try RcloneWebDAV.shared() // each test in a folder of its own
        let dir = TemporaryDirectory("remote-errors")
        let archive = try exportedArchive(in: dir, bytes: 100_000, name: "a.tar.zst")
        let remote = "webdav+\(server.baseURL)/failures/"
        let secret = "not-the-Password-42"

        let refused = try ptc(["push", archive, remote], env: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": secret])
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(!refused.stderr.contains(secret))
        // The error names where the refused credentials came from and how to give others.
        #expect(refused.stderr.contains("from PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD from the environment"), "\(refused.stderr)")
        let anonymous = try ptc(["list", remote], env: [:])
        #expect(anonymous.status == 77, "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains("no credentials were sent: set PTC_WEBDAV_USER"), "\(anonymous.stderr)")

        let good = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        let missing = try ptc(["pull", remote + "nope.tar.zst", "--output", dir.path + "/"], env: good)
        #expect(missing.status == 66, "\(missing.stderr)")
        #expect(!dir.contents().contains("nope.tar.zst"))

        let unreachable = try ptc(["list", "webdav+http://127.0.0.1:9/x/"], env: good)
        #expect(unreachable.status == 69, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("127.0.0.1"))

        #expect(try ptc(["push", archive, "s3://bucket/prefix"], env: [:]).status == 77)           // no S3 credentials
        #expect(try ptc(["push", archive, "s3://key:secret@bucket/prefix"], env: [:]).status == 64)
        #expect(try ptc(["push", archive, "webdav+http://u:p@127.0.0.1/x/"], env: [:]).status == 64)
        #expect(try ptc(["push", dir.file("appdata.db"), remote], env: good).status == 65) // not an archive
    }

    @Test func exportToARemoteThenVerifyAndImportFromIt() throws {
        let server = try RcloneWebDAV() // its own: the test looks at everything the server holds
        let dir = TemporaryDirectory("remote-roundtrip")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000)
        let remote = "webdav+\(server.baseURL)/nightly/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password, "TMPDIR": dir.path]

        let export = try ptc(["export", "--db", fixture.path, "--to", remote, "--json"], env: credentials)
        #expect(export.status == 0, "\(export.stderr)")
        let report = try jsonResult(ExportReport.self, export.stdout)
        let url = try #require(report.uploadedTo)
        #expect(report.archive == nil)                                         // the local copy is gone
        #expect(!dir.contents().contains { $0.hasSuffix(".tar.zst") })
        #expect(server.root.contents() == ["nightly"])

        let verify = try ptc(["verify", url], env: credentials)
        #expect(verify.status == 0, "\(verify.stderr)")
        let restore = try ptc(["import", url, "--db", dir.file("restored.db"), "--mode", "restore", "--quiet"], env: credentials)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TableDigest.digests(of: dir.file("restored.db")) == TableDigest.digests(of: fixture.path))
        // Nothing downloaded stays behind.
        #expect(!dir.contents().contains { $0.hasPrefix("ptc-backup-verify") })

        let kept = try ptc(["export", "--db", fixture.path, "--to", remote, "--keep", "--output", dir.path + "/", "--quiet"], env: credentials)
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(dir.contents().contains { $0.hasSuffix(".tar.zst") })
    }

    /// The whole S3 path through the CLI against radosgw (which checks every body's hash): export --to,
    /// list, verify and import of the URL, pull with the endpoint from the environment.
    @Test func exportToS3ThenListVerifyImportAndPull() throws {
        let server = try S3TestServer.shared(.radosgw)
        let dir = TemporaryDirectory("s3-cli")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000)
        let remote = "s3://\(S3TestServer.uniqueBucket("cli"))/laptop/nightly/"
        let credentials = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "TMPDIR": dir.path]
        let endpoint = ["--endpoint", server.endpoint]

        let export = try ptc(["export", "--db", fixture.path, "--to", remote, "--json"] + endpoint, env: credentials)
        #expect(export.status == 0, "\(export.stderr)")
        let url = try #require(try jsonResult(ExportReport.self, export.stdout).uploadedTo)
        #expect(!dir.contents().contains { $0.hasSuffix(".tar.zst") })

        let list = try ptc(["list", remote, "--json"] + endpoint, env: credentials)
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try jsonResult(ListReport.self, list.stdout)
        #expect(listed.archives.map(\.name) == [(url as NSString).lastPathComponent])

        let verify = try ptc(["verify", url, "-vv"] + endpoint, env: credentials)
        #expect(verify.status == 0, "\(verify.stderr)")
        let restore = try ptc(["import", url, "--db", dir.file("restored.db"), "--mode", "restore", "--quiet"] + endpoint, env: credentials)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TableDigest.digests(of: dir.file("restored.db")) == TableDigest.digests(of: fixture.path))

        var fromEnvironment = credentials
        fromEnvironment["AWS_ENDPOINT_URL_S3"] = server.endpoint
        let pull = try ptc(["pull", url, "--output", dir.path + "/", "--json"], env: fromEnvironment)
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try ptc(["verify", dir.file((url as NSString).lastPathComponent), "--quiet"], env: [:]).status == 0)

        let wrong = try ptc(["list", remote] + endpoint, env: ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": "not-the-Secret-42"])
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(wrong.stderr.contains("SignatureDoesNotMatch"))
        #expect(wrong.stderr.contains("from the environment") && wrong.stderr.contains("check them, or set AWS_ACCESS_KEY_ID"), "\(wrong.stderr)")
        let missing = try ptc(["pull", remote + "nope.tar.zst", "--output", dir.path + "/"] + endpoint, env: credentials)
        #expect(missing.status == 66, "\(missing.stderr)")
        let unreachable = try ptc(["list", remote, "--endpoint", "http://127.0.0.1:9"], env: credentials)
        #expect(unreachable.status == 69, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("127.0.0.1"))

        // Deletion (retention's building block): the archive goes; a second time, or a folder, is an error.
        let delete = try ptc(["delete", url, "--json"] + endpoint, env: credentials)
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try envelope(NoResult.self, delete.stdout).command == "delete")
        let deleted = try resultObject(delete.stdout)
        #expect(deleted?["remote"] as? String == url)
        let after = try ptc(["list", remote, "--json"] + endpoint, env: credentials)
        #expect(try jsonResult(ListReport.self, after.stdout).archives.isEmpty)
        #expect(try ptc(["delete", url] + endpoint, env: credentials).status == 66)
        #expect(try ptc(["delete", remote] + endpoint, env: credentials).status == 64)
        #expect(try ptc(["delete", dir.file("restored.db")], env: [:]).status == 64)

        // No secret in anything any of them printed.
        for result in [export, list, verify, restore, pull, wrong, missing, unreachable, delete] {
            for secret in [server.secretKey, "not-the-Secret-42"] {
                #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))
            }
        }
    }

    /// TLS is checked: a self-signed server is refused (exit 69, naming the host, without retries) unless
    /// --insecure is given.
    @Test func tlsIsCheckedUnlessInsecure() throws {
        let server = try RcloneWebDAV(tls: true)
        let dir = TemporaryDirectory("tls")
        let archive = try exportedArchive(in: dir, bytes: 100_000, name: "plantocode-h-20260101T000000Z-full.tar.zst")
        let remote = "webdav+\(server.baseURL)/tls/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        let refused = try ptc(["push", archive, remote], env: credentials)
        #expect(refused.status == 69, "\(refused.stderr)")
        #expect(refused.stderr.contains("127.0.0.1"))
        #expect(!refused.stderr.contains("retrying"))
        let insecure = try ptc(["push", archive, remote, "--insecure"], env: credentials)
        #expect(insecure.status == 0, "\(insecure.stderr)")
        #expect(try ptc(["list", remote, "--insecure", "--json"], env: credentials).stdout.contains("plantocode-h-20260101T000000Z-full.tar.zst"))
    }
}
