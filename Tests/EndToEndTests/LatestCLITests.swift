import BackupTestSupport
import Foundation
import Testing

/// `latest` in place of an archive's name (`verify DIR/latest`, `pull URL/latest`, `import URL/latest`),
/// narrowed by `--kind` and `--host`.
@Suite struct LatestCLITests {
    func ptc(_ arguments: [String], env extra: [String: String] = [:]) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        for name in env.keys where name.hasPrefix("AWS_") || name.hasPrefix("PTC_WEBDAV_") { env[name] = nil }
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        env["NETRC"] = "/nonexistent/netrc"
        return try BackupTestSupport.ptc(arguments, environment: env, extra: extra)
    }

    static let names = [
        "plantocode-laptop-20261201T000000Z-full.tar.zst",
        "plantocode-desk-20261202T000000Z-full.tar.zst",
        "plantocode-laptop-20261203T000000Z-partial.tar.zst",
    ]

    /// The three archives (copies of one export) in `dir/archives`, with a newer encrypted one and a stray
    /// file that are never picked.
    func archives(in dir: TemporaryDirectory) throws -> String {
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let folder = dir.file("archives")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let first = folder + "/" + Self.names[0]
        #expect(try ptc(["export", "--db", fixture.path, "--output", first, "--quiet"]).status == 0)
        for name in Self.names.dropFirst() { try FileManager.default.copyItem(atPath: first, toPath: folder + "/" + name) }
        try "not an archive".write(toFile: folder + "/plantocode-laptop-20261209T000000Z-full.tar.zst.age", atomically: true, encoding: .utf8)
        try "notes".write(toFile: folder + "/zzz-notes.tar.zst", atomically: true, encoding: .utf8)
        return folder
    }

    func verifiedName(_ arguments: [String]) throws -> String? {
        let result = try ptc(["verify"] + arguments + ["--json"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return (try resultObject(result.stdout)?["archive"] as? String).map { ($0 as NSString).lastPathComponent }
    }

    @Test func verifyLatestInAFolderWithKindAndHost() throws {
        let dir = TemporaryDirectory("latest")
        let folder = try archives(in: dir)
        #expect(try verifiedName([folder + "/latest"]) == Self.names[2])
        #expect(try verifiedName([folder + "/latest", "--kind", "full"]) == Self.names[1])
        #expect(try verifiedName([folder + "/latest", "--kind", "full", "--host", "laptop"]) == Self.names[0])
        let none = try ptc(["verify", folder + "/latest", "--host", "nobody"])
        #expect(none.status == 66, "\(none.stderr)")
        #expect(none.stderr.contains("host nobody"))
        #expect(try ptc(["verify", folder + "/" + Self.names[0], "--kind", "full"]).status == 64)
        #expect(try ptc(["verify", folder + "/latest", "--kind", "weekly"]).status == 64)
    }

    @Test func pullAndImportLatestFromWebDAVAndS3() throws {
        let dir = TemporaryDirectory("latest-remote")
        let folder = try archives(in: dir)
        let webdav = try RcloneWebDAV.shared()
        let s3 = try S3TestServer.shared(.radosgw)
        let remotes: [(url: String, env: [String: String], flags: [String])] = [
            ("webdav+\(webdav.baseURL)/\(S3TestServer.uniqueBucket("latest"))/", ["PTC_WEBDAV_USER": webdav.user, "PTC_WEBDAV_PASSWORD": webdav.password], []),
            ("s3://\(S3TestServer.uniqueBucket("latest"))/laptop/", ["AWS_ACCESS_KEY_ID": s3.accessKey, "AWS_SECRET_ACCESS_KEY": s3.secretKey],
             ["--endpoint", s3.endpoint]),
        ]
        for (index, remote) in remotes.enumerated() {
            for name in Self.names {
                let push = try ptc(["push", folder + "/" + name, remote.url, "--create-bucket", "--quiet"] + remote.flags, env: remote.env)
                #expect(push.status == 0, "\(push.stderr)")
            }
            let output = dir.file("down\(index)")
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
            let pull = try ptc(["pull", remote.url + "latest", "--kind", "full", "--host", "laptop", "--output", output + "/"] + remote.flags, env: remote.env)
            #expect(pull.status == 0, "\(pull.stderr)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: output)) == [Self.names[0]])
            let newest = try ptc(["pull", remote.url + "latest", "--output", output + "/"] + remote.flags, env: remote.env)
            #expect(newest.status == 0, "\(newest.stderr)")
            #expect(FileManager.default.fileExists(atPath: output + "/" + Self.names[2]))
            let restore = try ptc(["import", remote.url + "latest", "--db", dir.file("restored\(index).db"), "--mode", "restore", "--quiet"] + remote.flags,
                                  env: remote.env)
            #expect(restore.status == 0, "\(restore.stderr)")
        }
    }
}
