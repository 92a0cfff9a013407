import BackupConfig
@testable import BackupCore
import BackupTestSupport
import Foundation
import Testing

@Suite struct ConfigTests {
    func write(_ text: String, in dir: TemporaryDirectory, mode: Int = 0o600) throws -> String {
        let path = dir.file("config.toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test func remotesAndProfilesAreReadAndResolved() throws {
        let dir = TemporaryDirectory("config")
        let path = try write("""
            [remote.nas]
            url = "webdav+https://nas.local/backups/"
            user = "ana"
            password_command = "/bin/echo from-the-command"

            [remote.bucket]
            url = "s3://backups/plantocode/"
            endpoint = "http://127.0.0.1:9000"
            addressing = "path"
            region = "eu-west-3"
            access_key_id_env = "MY_KEY"
            secret_access_key_env = "MY_SECRET"

            [profile.nightly]
            output = "/srv/backups"
            to = "nas:laptop"
            cleanup = true
            keep_daily = 7
            keep_within = "30d"
            on_failure = "notify-send backup failed"
            """, in: dir)
        let config = try ConfigFile.load(path)
        #expect(config.warnings.isEmpty)
        let nightly = try config.profile("nightly")
        #expect(nightly.cleanup && nightly.keepDaily == 7 && nightly.keepWithin == "30d" && nightly.prunes)
        let nas = try config.resolve("nas:laptop", base: RemoteOptions(), environment: [:])
        #expect(nas.url == "webdav+https://nas.local/backups/laptop")
        #expect(nas.environment["PTC_WEBDAV_USER"] == "ana" && nas.environment["PTC_WEBDAV_PASSWORD"] == "from-the-command")
        let bucket = try config.resolve("bucket:", base: RemoteOptions(), environment: ["MY_KEY": "k", "MY_SECRET": "s", "AWS_SESSION_TOKEN": "t"])
        #expect(bucket.url == "s3://backups/plantocode/")
        #expect(bucket.options.endpoint == "http://127.0.0.1:9000" && bucket.options.addressing == .path)
        #expect(bucket.environment["AWS_ACCESS_KEY_ID"] == "k" && bucket.environment["AWS_SECRET_ACCESS_KEY"] == "s")
        #expect(bucket.environment["AWS_SESSION_TOKEN"] == nil && bucket.environment["AWS_REGION"] == "eu-west-3")
        // URLs and paths are not names.
        #expect(try config.resolve("s3://other/p/", base: RemoteOptions(), environment: [:]).url == "s3://other/p/")
        #expect(try config.resolve("/srv/backups", base: RemoteOptions(), environment: [:]).url == "/srv/backups")
        // An unknown name and a missing secret are configuration errors (78) naming the key, never a secret.
        #expect(throws: BackupError.self) { try config.resolve("nope:x", base: RemoteOptions(), environment: [:]) }
        let missing = #expect(throws: BackupError.self) { try config.resolve("bucket:", base: RemoteOptions(), environment: [:]) }
        #expect(missing?.code == .config && missing?.message.contains("MY_KEY") == true)
    }

    /// Unknown keys, wrong types and syntax errors: the file, the line and the key.
    @Test(arguments: [
        ("[profile.a]\noutput = \"/x\"\nkeep_dayly = 7\n", 3, "profile.a.keep_dayly"),
        ("[profile.a]\noutput = \"/x\"\nkeep_daily = \"seven\"\n", 3, "profile.a.keep_daily"),
        ("[remote.r]\nurl = \"ftp://x\"\n", 2, "remote.r.url"),
        ("[remote.r]\nurl = \"s3://b/\"\npassword = \"hunter2\"\n", 3, "remote.r.password"),
        ("[profile.a]\noutput = \"/x\"\ncleanup = yes\n", 3, nil),
        ("[profiles.a]\noutput = \"/x\"\n", 1, "profiles"),
        ("[profile.a]\noutput = \"/x\"\nencrypt_to = \"age1x\"\n", 3, "profile.a.encrypt_to"),
        ("[profile.a]\noutput = \"/x\"\nidentity_file = \"k\"\nencrypt_to = [\"age1x\", 3]\n", 4, "profile.a.encrypt_to"),
        ("[profile.a]\noutput = \"/x\"\nencrypt_to_file = \"r.txt\"\n", 3, "profile.a.identity_file"),
        ("[profile.a]\noutput = \"/x\"\npassphrase_env = \"P\"\npassphrase_command = \"pass p\"\n", 4, "profile.a.passphrase_command"),
        ("[profile.a]\noutput = \"/x\"\nidentity_file = \"k\"\nencrypt_to = [\"age1x\"]\npassphrase_env = \"P\"\n", 4, "profile.a.encrypt_to"),
        ("[profile.a]\noutput = \"/x\"\nredact_env = \"yes\"\n", 3, "profile.a.redact_env"),
    ] as [(String, Int, String?)])
    func mistakesSayFileLineAndKey(text: String, line: Int, key: String?) throws {
        let dir = TemporaryDirectory("config-bad")
        let path = try write(text, in: dir)
        let error = #expect(throws: ConfigError.self) { try ConfigFile.load(path) }
        #expect(error?.line == line, "\(String(describing: error))")
        if let key { #expect(error?.key == key, "\(String(describing: error))") }
        #expect(error?.description.hasPrefix(path) == true)
        #expect(error?.description.contains("hunter2") == false)
    }

    /// A profile's encryption keys, secrets by reference only.
    @Test func encryptionKeysOfAProfile() throws {
        let dir = TemporaryDirectory("config-age")
        let path = try write("""
            [profile.keyed]
            output = "/srv/backups"
            encrypt_to = ["age1aaa", "age1bbb"]
            encrypt_to_file = "recipients.txt"
            identity_file = "key.txt"
            redact_env = true

            [profile.secret]
            output = "/srv/backups"
            passphrase_command = "/bin/echo tr0ub4dor"

            [profile.plain]
            output = "/srv/backups"
            """, in: dir)
        let config = try ConfigFile.load(path)
        let keyed = try config.profile("keyed"), secret = try config.profile("secret"), plain = try config.profile("plain")
        #expect(keyed.encryptTo == ["age1aaa", "age1bbb"] && keyed.encryptToFile == "recipients.txt")
        #expect(keyed.identityFile == "key.txt" && keyed.redactEnv && keyed.encrypts)
        #expect(secret.passphrase == .command("/bin/echo tr0ub4dor") && secret.encrypts && !secret.redactEnv)
        #expect(try secret.passphrase?.resolve(environment: [:], configPath: path, key: "profile.secret.passphrase") == "tr0ub4dor")
        #expect(!plain.encrypts && plain.encryptTo.isEmpty && plain.identityFile == nil)
    }

    @Test func aFileOthersCanReadIsWarnedAbout() throws {
        let dir = TemporaryDirectory("config-mode")
        let path = try write("[profile.a]\noutput = \"/x\"\n", in: dir, mode: 0o644)
        #expect(try ConfigFile.load(path).warnings.first?.contains("chmod 600") == true)
    }

    @Test func theLocationFollowsXDG() {
        #expect(ConfigFile.location(explicit: nil, environment: ["HOME": "/h"]) == "/h/.config/ptc-backup/config.toml")
        #expect(ConfigFile.location(explicit: nil, environment: ["HOME": "/h", "XDG_CONFIG_HOME": "/x"]) == "/x/ptc-backup/config.toml")
        #expect(ConfigFile.location(explicit: nil, environment: ["HOME": "/h", "PTC_BACKUP_CONFIG": "/c.toml"]) == "/c.toml")
        #expect(ConfigFile.location(explicit: "/e.toml", environment: ["PTC_BACKUP_CONFIG": "/c.toml"]) == "/e.toml")
    }
}
