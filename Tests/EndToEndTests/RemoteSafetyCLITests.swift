import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// Remotes that never surprise (issue 12): `push` never replaces silently, a missing bucket is an error.
@Suite struct RemoteSafetyCLITests {
    /// `ptc-backup` with none of the user's remote credentials: only `extra`'s.
    func ptc(_ arguments: [String], env extra: [String: String]) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        for name in env.keys where name.hasPrefix("AWS_") || name.hasPrefix("PTC_WEBDAV_") { env[name] = nil }
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        env["AWS_CONFIG_FILE"] = "/nonexistent/config"
        env["NETRC"] = "/nonexistent/netrc"
        return try BackupTestSupport.ptc(arguments, environment: env, extra: extra)
    }

    /// Two different archives of the same name, in `dir/a/` and `dir/b/`.
    func twoArchivesOfOneName(in dir: TemporaryDirectory) throws -> (first: String, second: String) {
        let name = "plantocode-laptop-20261204T031500Z-full.tar.zst"
        var paths: [String] = []
        for (folder, seed) in [("a", UInt64(1)), ("b", UInt64(2))] {
            try FileManager.default.createDirectory(atPath: dir.file(folder), withIntermediateDirectories: false)
            let fixture = try Fixtures.database(in: dir, name: "\(folder).db", bytes: 200_000, seed: seed)
            let export = try ptc(["export", "--db", fixture.path, "--output", dir.file("\(folder)/\(name)"), "--quiet"], env: [:])
            #expect(export.status == 0, "\(export.stderr)")
            paths.append(dir.file("\(folder)/\(name)"))
        }
        return (paths[0], paths[1])
    }

    func pushNeverReplacesSilently(remote: String, env: [String: String], flags: [String] = []) throws {
        let dir = TemporaryDirectory("no-overwrite")
        let (first, second) = try twoArchivesOfOneName(in: dir)
        let name = (first as NSString).lastPathComponent

        let push = try ptc(["push", first, remote, "--json"] + flags, env: env)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout.contains("\"alreadyThere\" : false"))
        let again = try ptc(["push", first, remote] + flags, env: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("Already there"))
        let againJSON = try ptc(["push", first, remote, "--json"] + flags, env: env)
        #expect(againJSON.stdout.contains("\"alreadyThere\" : true"))

        let different = try ptc(["push", second, remote] + flags, env: env)
        #expect(different.status == 73, "\(different.stderr)")
        #expect(different.stderr.contains("--overwrite") && different.stderr.contains(name))
        try FileManager.default.createDirectory(atPath: dir.file("down1"), withIntermediateDirectories: false)
        #expect(try ptc(["pull", remote + name, "--output", dir.file("down1") + "/"] + flags, env: env).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: dir.file("down1/" + name), andPath: first))
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("down1/" + name))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let replaced = try ptc(["push", second, remote, "--overwrite"] + flags, env: env)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        try FileManager.default.createDirectory(atPath: dir.file("down2"), withIntermediateDirectories: false)
        #expect(try ptc(["pull", remote + name, "--output", dir.file("down2") + "/"] + flags, env: env).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: dir.file("down2/" + name), andPath: second))
    }

    @Test func pushNeverReplacesSilentlyOnWebDAV() throws {
        let server = try RcloneWebDAV.shared()
        let remote = "webdav+\(server.baseURL)/\(S3TestServer.uniqueBucket("safety"))/laptop/"
        try pushNeverReplacesSilently(remote: remote, env: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password])
    }

    @Test func pushNeverReplacesSilentlyOnS3() throws {
        let server = try S3TestServer.shared(.radosgw)
        let remote = "s3://\(S3TestServer.uniqueBucket("safety"))/laptop/"
        try pushNeverReplacesSilently(remote: remote, env: ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey],
                                      flags: ["--endpoint", server.endpoint, "--create-bucket"])
    }

    @Test func aMissingBucketIsAnErrorNamingItUnlessCreateBucket() throws {
        let server = try S3TestServer.shared(.radosgw)
        let dir = TemporaryDirectory("bucket")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("plantocode-laptop-20261204T031500Z-full.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"], env: [:]).status == 0)
        let bucket = S3TestServer.uniqueBucket("missing")
        let remote = "s3://\(bucket)/laptop/"
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey]
        let endpoint = ["--endpoint", server.endpoint]

        for arguments in [["list", remote], ["push", archive, remote], ["list", remote, "--json"]] {
            let result = try ptc(arguments + endpoint, env: env)
            #expect(result.status == 69, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("'\(bucket)' does not exist") && result.stderr.contains("--create-bucket"))
            #expect(!result.stdout.contains("No archives"))
            #expect(!result.stderr.contains("retrying"))
        }
        let push = try ptc(["push", archive, remote, "--create-bucket"] + endpoint, env: env)
        #expect(push.status == 0, "\(push.stderr)")
        let list = try ptc(["list", remote, "--json"] + endpoint, env: env)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(try jsonResult(ListReport.self, list.stdout).archives.map(\.name) == [(archive as NSString).lastPathComponent])
    }

    /// AWS_SESSION_TOKEN goes only with keys from the environment; refused credentials are 77 and say
    /// where they came from, never the secret.
    @Test(arguments: S3TestServer.Kind.allCases)
    func sessionTokenOnlyWithTheEnvironmentsKeysAndRefusalsSayWhichCredentials(_ kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let dir = TemporaryDirectory("token")
        let remote = "s3://\(S3TestServer.uniqueBucket("token"))/"
        let endpoint = ["--endpoint", server.endpoint, "--create-bucket"]
        try "[default]\naws_access_key_id = \(server.accessKey)\naws_secret_access_key = \(server.secretKey)\n"
            .write(toFile: dir.file("credentials"), atomically: true, encoding: .utf8)

        // A profile's keys with a stray AWS_SESSION_TOKEN in the environment: the token is not sent.
        let profile = try ptc(["list", remote] + endpoint, env: ["AWS_SHARED_CREDENTIALS_FILE": dir.file("credentials"),
                                                                 "AWS_SESSION_TOKEN": "stray-token-of-another-login"])
        #expect(profile.status == 0, "\(profile.stderr)")

        // The environment's keys with that token: it is sent, refused, and the message says so.
        let token = try ptc(["list", remote] + endpoint, env: ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey,
                                                               "AWS_SESSION_TOKEN": "stray-token-of-another-login"])
        if kind == .moto { // radosgw accepts long-term keys with any token; moto checks it (and so proves the above)
            #expect(token.status == 77, "\(token.stderr)")
            #expect(token.stderr.contains("from the environment") && token.stderr.contains("with a session token"))
        }

        let wrong = try ptc(["list", remote] + endpoint, env: ["AWS_SHARED_CREDENTIALS_FILE": dir.file("credentials"), "AWS_ACCESS_KEY_ID": server.accessKey,
                                                               "AWS_SECRET_ACCESS_KEY": "not-the-Secret-42"])
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(wrong.stderr.contains("SignatureDoesNotMatch") && wrong.stderr.contains("AWS_SECRET_ACCESS_KEY from the environment"))
        for result in [profile, token, wrong] {
            #expect(!result.stderr.contains(server.secretKey) && !result.stdout.contains(server.secretKey))
            #expect(!result.stderr.contains("not-the-Secret-42") && !result.stderr.contains("stray-token"))
        }
    }

    /// An object without a stored SHA-256 is downloaded and said to be unchecked (text and JSON); one whose
    /// content does not match its stored SHA-256 is 65 after one more download, not retried as a failure that may pass.
    @Test(arguments: S3TestServer.Kind.allCases)
    func checksumsAreCheckedOrSaidToBeMissing(_ kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let dir = TemporaryDirectory("checksum")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let name = "plantocode-laptop-20261204T031500Z-full.tar.zst"
        let archive = dir.file(name)
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"], env: [:]).status == 0)
        let bucket = S3TestServer.uniqueBucket("sum")
        try server.putObject(bucket: bucket, key: name, file: archive, sha256: nil)
        try server.putObject(bucket: bucket, key: "bad-" + name, file: archive, sha256: String(repeating: "0", count: 64))
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey]
        let endpoint = ["--endpoint", server.endpoint]
        for folder in ["text", "json", "bad"] {
            try FileManager.default.createDirectory(atPath: dir.file(folder), withIntermediateDirectories: false)
        }

        let text = try ptc(["pull", "s3://\(bucket)/\(name)", "--output", dir.file("text") + "/"] + endpoint, env: env)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("not checked: no checksum stored"))
        let json = try ptc(["pull", "s3://\(bucket)/\(name)", "--output", dir.file("json") + "/", "--json"] + endpoint, env: env)
        #expect(json.status == 0, "\(json.stderr)")
        let report = try resultObject(json.stdout)
        #expect(report?["checksum"] as? String == "not checked: no checksum stored")
        #expect(FileManager.default.contentsEqual(atPath: dir.file("json/" + name), andPath: archive))

        let bad = try ptc(["pull", "s3://\(bucket)/bad-\(name)", "--output", dir.file("bad") + "/"] + endpoint, env: env)
        #expect(bad.status == 65, "\(bad.stderr)")
        #expect(bad.stderr.contains("SHA-256") && !bad.stderr.contains("retrying"))
        #expect(dir.contents().filter { $0.hasPrefix("bad/") }.isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.file("bad"))) ?? ["?"]).isEmpty)

        // What push uploads carries its SHA-256, and pull says it was checked.
        let remote = "s3://\(bucket)/pushed/"
        let prefix = kind == .moto ? "s3://\(bucket)/" : remote // moto refuses signed queries holding '/'
        try FileManager.default.createDirectory(atPath: dir.file("pushed"), withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: archive, toPath: dir.file("pushed/other-" + name))
        #expect(try ptc(["push", dir.file("pushed/other-" + name), prefix] + endpoint, env: env).status == 0)
        let checked = try ptc(["pull", prefix + "other-" + name, "--output", dir.file("text") + "/", "--json"] + endpoint, env: env)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(try resultObject(checked.stdout)?["checksum"] as? String == "checked")
    }

    /// `%` is a percent-escape in WebDAV and S3 URLs alike: `dir%20one` is the folder or prefix `dir one`.
    @Test func percentInURLsIsAnEscapeOnWebDAVAndS3() throws {
        let dir = TemporaryDirectory("percent")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let name = "plantocode-laptop-20261204T031500Z-full.tar.zst"
        let archive = dir.file(name)
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"], env: [:]).status == 0)

        let webdav = try RcloneWebDAV.shared()
        let folder = S3TestServer.uniqueBucket("pct")
        let webdavEnv = ["PTC_WEBDAV_USER": webdav.user, "PTC_WEBDAV_PASSWORD": webdav.password]
        let push = try ptc(["push", archive, "webdav+\(webdav.baseURL)/\(folder)/dir%20one/"], env: webdavEnv)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(FileManager.default.fileExists(atPath: webdav.root.file("\(folder)/dir one/\(name)")))

        let s3 = try S3TestServer.shared(.radosgw)
        let bucket = S3TestServer.uniqueBucket("pct")
        try s3.putObject(bucket: bucket, key: "dir one/\(name)", file: archive, sha256: nil)
        let s3Env = ["AWS_ACCESS_KEY_ID": s3.accessKey, "AWS_SECRET_ACCESS_KEY": s3.secretKey]
        try FileManager.default.createDirectory(atPath: dir.file("down"), withIntermediateDirectories: false)
        let pull = try ptc(["pull", "s3://\(bucket)/dir%20one/\(name)", "--output", dir.file("down") + "/", "--endpoint", s3.endpoint], env: s3Env)
        #expect(pull.status == 0, "\(pull.stderr)")

        for remote in ["webdav+\(webdav.baseURL)/bad%zz/", "s3://\(bucket)/bad%zz/"] {
            let bad = try ptc(["list", remote, "--endpoint", s3.endpoint], env: webdavEnv.merging(s3Env) { a, _ in a })
            #expect(bad.status == 64, "\(remote): \(bad.stderr)")
        }
    }
}
