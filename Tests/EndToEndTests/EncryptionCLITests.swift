import BackupDigest
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

private let ageTool: String? = ["/usr/bin/age", "/usr/local/bin/age"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Encrypted archives (age) through the CLI, checked with Debian's `age` and stock tar. Skipped, saying
/// so, when `age` is not installed (Scripts/install-deps installs it).
@Suite(.enabled(if: ageTool != nil, "the age tool is not installed (apt-get install age)"))
struct EncryptionCLITests {
    static var age: String? { ageTool }
    static var ageKeygen: String { (age! as NSString).deletingLastPathComponent + "/age-keygen" }
    /// Runs age on a pseudo-terminal answering its passphrase prompts (age reads them only from a terminal).
    static var ptyHelper: String { Binary.packageRoot + "/Tests/BackupAgeTests/Resources/age_pty.py" }

    let dir = TemporaryDirectory("encryption-cli")

    private func keygen(_ name: String) throws -> String {
        let result = try Binary.run(Self.ageKeygen, ["-o", dir.file(name)])
        #expect(result.status == 0)
        return try Binary.run(Self.ageKeygen, ["-y", dir.file(name)]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func sha256(ofFile path: String) throws -> String { SHA256.hex(of: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))) }

    private func shell(_ command: String) throws -> ProcessResult { try Binary.run("/bin/sh", ["-c", command]) }

    /// The manifest, read with stock tools (age, tar); `inspect` with `identity` must open it too.
    private func manifest(_ archive: String, identity: String) throws -> Manifest {
        let inspect = try ptc(["inspect", archive, "--identity", identity])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let result = try shell("'\(Self.age!)' -d -i '\(identity)' '\(archive)' | tar --zstd -xO manifest.json")
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(Manifest.self, from: Data(result.stdout.utf8))
    }

    @Test func keygenWritesWhatAgeKeygenWrites() throws {
        let key = dir.file("key.txt")
        let made = try ptc(["keygen", "--output", key])
        #expect(made.status == 0, "\(made.stderr)")
        let lines = try String(contentsOfFile: key, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("# created: 20") && lines[1].hasPrefix("# public key: age1") && lines[2].hasPrefix("AGE-SECRET-KEY-1"))
        let recipient = try Binary.run(Self.ageKeygen, ["-y", key]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(lines[1] == "# public key: \(recipient)")
        #expect(made.stderr == "Public key: \(recipient)\n")
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try ptc(["keygen", "--output", key])
        #expect(again.status == 73)
        #expect(try String(contentsOfFile: key, encoding: .utf8).contains(lines[2]))
        // To stdout: the same three lines.
        let printed = try ptc(["keygen"])
        #expect(printed.status == 0 && printed.stdout.split(separator: "\n").count == 3)
        #expect(!printed.stdout.contains(lines[2]))
    }

    @Test func anEncryptedExportOpensWithAgeAndTarAndWithOurReaders() throws {
        let db = try Fixtures.database(in: dir, bytes: 2_000_000, seed: 41)
        let a = try keygen("a.txt"), b = try keygen("b.txt")
        let out = dir.file("out") + "/"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let export = try ptc(["export", "--db", db.path, "--output", out, "--encrypt-to", a, "--encrypt-to", b, "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(names.count == 1 && names[0].hasSuffix("-full.tar.zst.age"))
        let archive = out + names[0]

        // list needs no key: what the name says.
        let listed = try ptc(["list", out])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(names[0]) && !listed.stdout.contains("unreadable"))

        // Without a key: 77, saying what it is encrypted to.
        let blind = try ptc(["inspect", archive])
        #expect(blind.status == 77)
        #expect(blind.stderr.contains("encrypted to 2 recipients (X25519)") && blind.stderr.contains("--identity"))

        let manifest = try manifest(archive, identity: dir.file("b.txt"))
        for key in ["a.txt", "b.txt"] {
            let plain = try shell("'\(Self.age!)' -d -i '\(dir.file(key))' '\(archive)' | tar --zstd -xO appdata.db | sha256sum")
            #expect(plain.status == 0, "\(plain.stderr)")
            #expect(plain.stdout.hasPrefix(manifest.entries[0].sha256))
        }
        let verify = try ptc(["verify", archive, "--identity", dir.file("a.txt")])
        #expect(verify.status == 0, "\(verify.stderr)")
        let viaEnvironment = try ptc(["verify", archive], extra: ["PTC_BACKUP_IDENTITY": dir.file("b.txt")])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.stderr)")
        let restore = try ptc(["import", archive, "--db", dir.file("restored.db"), "--mode", "restore", "--identity", dir.file("a.txt"), "--quiet"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TableDigest.digests(of: dir.file("restored.db")) == TableDigest.digests(of: db.path))

        // Someone else's key: 77, and nothing restored.
        _ = try keygen("c.txt")
        let wrong = try ptc(["import", archive, "--db", dir.file("other.db"), "--mode", "restore", "--identity", dir.file("c.txt")])
        #expect(wrong.status == 77)
        #expect(wrong.stderr.contains("encrypted to 2 recipients (X25519)"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("other.db")))
        #expect(try ptc(["verify", archive, "--identity", dir.file("c.txt")]).status == 77)
    }

    /// A flipped byte, a cut at a chunk boundary, a missing final chunk, trailing data: 65, and the target
    /// of a restore stays byte for byte as it was.
    @Test func damageIsRefusedAndTheTargetIsUntouched() throws {
        let db = try Fixtures.database(in: dir, bytes: 1_500_000, seed: 42)
        let target = try Fixtures.database(in: dir, name: "target.db", bytes: 300_000, seed: 43, rollbackJournal: true)
        let recipient = try keygen("k.txt")
        let archive = dir.file("x.tar.zst.age")
        #expect(try ptc(["export", "--db", db.path, "--output", archive, "--encrypt-to", recipient, "--quiet"]).status == 0)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
        let headerEnd = bytes.indices.first { bytes[$0...].starts(with: Array("\n--- ".utf8)) }!
        let payload = bytes[headerEnd...].firstIndex(of: 0x0a, after: 1)! + 1 + 16
        let sealed = 65536 + 16
        #expect(bytes.count > payload + 3 * sealed)
        var flipped = bytes
        flipped[payload + sealed + 100] ^= 0x20
        var mac = bytes
        mac[headerEnd + 5] = mac[headerEnd + 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let damaged: [(String, [UInt8])] = [
            ("flipped", flipped),
            ("cut-at-boundary", Array(bytes[..<(payload + 2 * sealed)])),
            ("no-final-chunk", Array(bytes[..<(bytes.count - (bytes.count - payload) % sealed)])),
            ("trailing", bytes + Array("garbage".utf8)),
            ("header-mac", mac),
        ]
        let before = try sha256(ofFile: target.path)
        for (name, content) in damaged where content != bytes {
            let path = dir.file("\(name).tar.zst.age")
            try Data(content).write(to: URL(fileURLWithPath: path))
            let verify = try ptc(["verify", path, "--identity", dir.file("k.txt")])
            #expect(verify.status == 65, "\(name): \(verify.stderr)")
            let restore = try ptc(["import", path, "--db", target.path, "--mode", "restore", "--force", "--identity", dir.file("k.txt")])
            #expect(restore.status == 65, "\(name): \(restore.stderr)")
            #expect(try sha256(ofFile: target.path) == before, "\(name) changed the target")
        }
        #expect(!dir.contents().contains { $0.contains("before-restore") })
    }

    @Test func whatAgeEncryptsVerifiesAndImports() throws {
        let db = try Fixtures.database(in: dir, bytes: 800_000, seed: 44)
        let plain = dir.file("plain.tar.zst")
        #expect(try ptc(["export", "--db", db.path, "--output", plain, "--quiet"]).status == 0)
        let a = try keygen("a.txt"), b = try keygen("b.txt")
        try "# two\n\(a)\n\(b)\n".write(toFile: dir.file("recipients.txt"), atomically: true, encoding: .utf8)
        let theirs = dir.file("theirs.tar.zst.age")
        #expect(try Binary.run(Self.age!, ["-e", "-R", dir.file("recipients.txt"), "-o", theirs, plain]).status == 0)
        #expect(try ptc(["verify", theirs, "--identity", dir.file("b.txt")]).status == 0)
        let restore = try ptc(["import", theirs, "--db", dir.file("r.db"), "--mode", "restore", "--identity", dir.file("a.txt"), "--quiet"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TableDigest.digests(of: dir.file("r.db")) == TableDigest.digests(of: db.path))

        // age -p → our verify with the passphrase from the environment.
        let scrypted = dir.file("pass.tar.zst.age")
        let encrypted = try Binary.run("/usr/bin/env", ["python3", Self.ptyHelper, "s3cret phrase", Self.age!, "-p", "-o", scrypted, plain])
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        #expect(try ptc(["verify", scrypted], extra: ["PTC_BACKUP_PASSPHRASE": "s3cret phrase"]).status == 0)
        let noPass = try ptc(["inspect", scrypted])
        #expect(noPass.status == 77 && noPass.stderr.contains("encrypted with a passphrase"))
        #expect(try ptc(["verify", scrypted], extra: ["PTC_BACKUP_PASSPHRASE": "wrong"]).status == 77)
    }

    @Test func passphraseRecipientsFileRedactionAndPartialExports() throws {
        let db = try Fixtures.database(in: dir, bytes: 800_000, seed: 45)
        let a = try keygen("a.txt")
        try "# me\n\(a)\n".write(toFile: dir.file("recipients.txt"), atomically: true, encoding: .utf8)
        // A partial export (the snapshot-then-pack path), to a recipients file, with --redact-env.
        let session = db.sessionIDs[0]
        let partial = dir.file("p.tar.zst.age")
        let export = try ptc(["export", "--db", db.path, "--output", partial, "--session", session,
                              "--encrypt-to-file", dir.file("recipients.txt"), "--redact-env", "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let manifest = try manifest(partial, identity: dir.file("a.txt"))
        #expect(manifest.redactedEnvironment?.patterns.contains("*KEY*") == true)
        let extracted = try shell("'\(Self.age!)' -d -i '\(dir.file("a.txt"))' '\(partial)' | tar --zstd -xO appdata.db > '\(dir.file("p.db"))'")
        #expect(extracted.status == 0)
        let snapshot = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("p.db"))))
        #expect(!String(decoding: snapshot, as: UTF8.self).contains("sk-ant-test"))
        #expect(String(decoding: [UInt8](try Data(contentsOf: URL(fileURLWithPath: db.path))), as: UTF8.self).contains("sk-ant-test"))

        // A passphrase export opens with age -d (through a pty) and with our verify.
        let passOut = dir.file("pass.tar.zst.age")
        let withPass = try ptc(["export", "--db", db.path, "--output", passOut, "--passphrase", "--quiet"],
                               extra: ["PTC_BACKUP_PASSPHRASE": "correct horse"])
        #expect(withPass.status == 0, "\(withPass.stderr)")
        let opened = try Binary.run("/usr/bin/env", ["python3", Self.ptyHelper, "correct horse", Self.age!, "-d", "-o", dir.file("pass.tar.zst"), passOut])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(try ptc(["verify", dir.file("pass.tar.zst")]).status == 0)
        #expect(try ptc(["verify", passOut], extra: ["PTC_BACKUP_PASSPHRASE": "correct horse"]).status == 0)
        // A passphrase is alone or not at all.
        #expect(try ptc(["export", "--db", db.path, "--output", dir.file("mixed.tar.zst.age"), "--passphrase", "--encrypt-to", a],
                        extra: ["PTC_BACKUP_PASSPHRASE": "x"]).status == 64)
        #expect(try ptc(["export", "--db", db.path, "--output", dir.file("bad.tar.zst.age"), "--encrypt-to", "age1nope"]).status == 64)
    }
}

private extension ArraySlice where Element == UInt8 {
    /// The first index of `byte` at or after `startIndex + offset`.
    func firstIndex(of byte: UInt8, after offset: Int) -> Int? {
        self[(startIndex + offset)...].firstIndex(of: byte)
    }
}

// MARK: - cleanup and run

extension EncryptionCLITests {
    private func jobCount(_ path: String) throws -> Int64 {
        try Connection(path: path, mode: .readOnly).scalar("SELECT count(*) FROM background_jobs").int64 ?? 0
    }

    /// Cleanup reads its archive back before deleting: encrypting to a recipient needs the identity of
    /// one (64 without, nothing written or deleted; a key that does not fit deletes nothing); with it,
    /// the archive is verified, uploaded to a real WebDAV server, checked there, and opens with age.
    @Test func cleanupEncryptsAndReadsItsArchiveBackWithTheIdentity() throws {
        let db = try Fixtures.database(in: dir, bytes: 1_500_000, seed: 43)
        let a = try keygen("a.txt")
        _ = try keygen("b.txt")
        let out = dir.file("out")
        let before = try jobCount(db.path)

        let noIdentity = try ptc(["cleanup", "--db", db.path, "--output", out, "--encrypt-to", a])
        #expect(noIdentity.status == 64, "\(noIdentity.stderr)")
        #expect(noIdentity.stderr.contains("--identity") && noIdentity.stderr.contains("reads its archive back"))
        #expect(!FileManager.default.fileExists(atPath: out))

        let wrongKey = try ptc(["cleanup", "--db", db.path, "--output", out, "--encrypt-to", a, "--identity", dir.file("b.txt")])
        #expect(wrongKey.status == 77 && wrongKey.stderr.contains("none of the given identities"), "\(wrongKey.stderr)")
        #expect(try jobCount(db.path) == before)

        // A passphrase opens its own archive: no identity needed (--no-delete: archive and verify only).
        let passphrase = try ptc(["cleanup", "--db", db.path, "--output", out, "--passphrase", "--no-delete", "--json"],
                                 extra: ["PTC_BACKUP_PASSPHRASE": "correct horse"])
        #expect(passphrase.status == 0, "\(passphrase.stderr)")
        let kept = try jsonResult(CleanupReport.self, passphrase.stdout)
        #expect(try kept.archive?.contains("-cleanup") == true && kept.archive?.hasSuffix(".tar.zst.age") == true && jobCount(db.path) == before)

        let server = try RcloneWebDAV.shared()
        let remote = "webdav+\(server.baseURL)/cleanup-encrypted/"
        let run = try ptc(["cleanup", "--db", db.path, "--output", out, "--to", remote, "--encrypt-to", a,
                           "--identity", dir.file("a.txt"), "--redact-env", "--json"],
                          extra: ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try jsonResult(CleanupReport.self, run.stdout)
        let archive = try #require(report.archive)
        #expect(archive.hasSuffix(".tar.zst.age") && report.uploadedTo?.hasPrefix(remote) == true)
        #expect(try (report.deleted["background_jobs"] ?? 0) > 0 && jobCount(db.path) < before)
        let manifest = try manifest(archive, identity: dir.file("a.txt"))
        #expect(manifest.kind == .cleanup && manifest.redactedEnvironment != nil)
        // The remote copy is the encrypted file; nothing decrypted was left beside the database.
        let uploaded = server.root.file("cleanup-encrypted/" + (archive as NSString).lastPathComponent)
        #expect(try sha256(ofFile: uploaded) == (try sha256(ofFile: archive)))
        #expect(try String(contentsOfFile: uploaded, encoding: .isoLatin1).hasPrefix("age-encryption.org/v1\n"))
        let beside = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix((db.path as NSString).lastPathComponent) }
        #expect(Set(beside) == ["a.txt", "b.txt", "out"], "\(beside)")
    }

    /// A profile's encryption: `encrypt_to` with `identity_file` (export and cleanup profiles), and a
    /// passphrase by reference; mistakes are 78 with file and line.
    @Test func runEncryptsAsTheProfileSays() throws {
        let db = try Fixtures.database(in: dir, bytes: 600_000, seed: 44)
        let a = try keygen("a.txt")
        try FileManager.default.createDirectory(atPath: dir.file("xdg/ptc-backup"), withIntermediateDirectories: true)
        let config = dir.file("xdg/ptc-backup/config.toml")
        func write(_ text: String) throws {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: config)
        }
        try write("""
            [profile.keyed]
            db = "\(db.path)"
            output = "\(dir.file("keyed"))"
            encrypt_to = ["\(a)"]
            identity_file = "\(dir.file("a.txt"))"
            redact_env = true

            [profile.secret]
            db = "\(db.path)"
            output = "\(dir.file("secret"))"
            passphrase_env = "MY_BACKUP_PASSPHRASE"

            [profile.clean]
            db = "\(db.path)"
            output = "\(dir.file("clean"))"
            cleanup = true
            encrypt_to = ["\(a)"]
            identity_file = "\(dir.file("a.txt"))"
            """)
        let env = ["XDG_CONFIG_HOME": dir.file("xdg"), "MY_BACKUP_PASSPHRASE": "tr0ub4dor&3"]

        let keyed = try ptc(["run", "keyed", "--json"], extra: env)
        #expect(keyed.status == 0, "\(keyed.stderr)")
        #expect(try jsonResult(RunReport.self, keyed.stdout).steps.map(\.name) == ["prepare", "export", "verify"])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("keyed"))
        #expect(names.count == 1 && names[0].hasSuffix("-full.tar.zst.age"))
        #expect(try manifest(dir.file("keyed/") + names[0], identity: dir.file("a.txt")).redactedEnvironment != nil)

        let secret = try ptc(["run", "secret"], extra: env)
        #expect(secret.status == 0, "\(secret.stderr)")
        #expect(!secret.stdout.contains("tr0ub4dor") && !secret.stderr.contains("tr0ub4dor"))
        let sealed = try FileManager.default.contentsOfDirectory(atPath: dir.file("secret"))
        #expect(sealed.count == 1 && sealed[0].hasSuffix(".tar.zst.age"))
        let opened = try ptc(["verify", dir.file("secret/") + sealed[0]], extra: ["PTC_BACKUP_PASSPHRASE": "tr0ub4dor&3"])
        #expect(opened.status == 0, "\(opened.stderr)")
        let unset = try ptc(["run", "secret"], extra: ["XDG_CONFIG_HOME": dir.file("xdg")])
        #expect(unset.status == 78 && unset.stderr.contains("MY_BACKUP_PASSPHRASE"), "\(unset.stderr)")

        // The command line's encryption replaces the profile's; recipients need an identity to verify with.
        let override = try ptc(["run", "secret", "--encrypt-to", a], extra: env)
        #expect(override.status == 64 && override.stderr.contains("--identity"), "\(override.stderr)")
        let overridden = try ptc(["run", "secret", "--encrypt-to", a, "--identity", dir.file("a.txt")], extra: env)
        #expect(overridden.status == 0, "\(overridden.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("secret")).count == 2)

        let before = try jobCount(db.path)
        let clean = try ptc(["run", "clean", "--json"], extra: env)
        #expect(clean.status == 0, "\(clean.stderr)")
        let cleaned = try FileManager.default.contentsOfDirectory(atPath: dir.file("clean"))
        #expect(try cleaned.count == 1 && cleaned[0].hasSuffix("-cleanup.tar.zst.age") && jobCount(db.path) < before)

        // Mistakes: 78 with file and line; recipients without an identity to verify with.
        try write("[profile.p]\noutput = \"/x\"\nencrypt_to = [\"\(a)\"]\n")
        let noIdentity = try ptc(["run", "p"], extra: env)
        #expect(noIdentity.status == 78 && noIdentity.stderr.contains("\(config):3: profile.p.identity_file"), "\(noIdentity.stderr)")
        try write("[profile.p]\noutput = \"/x\"\nidentity_file = \"k\"\nencrypt_to = [\"ssh-ed25519 AAAA\"]\n")
        let notAge = try ptc(["run", "p"], extra: env)
        #expect(notAge.status == 78 && notAge.stderr.contains("\(config):4: profile.p.encrypt_to"), "\(notAge.stderr)")
        try write("[profile.p]\noutput = \"/x\"\npassphrase = \"hunter2\"\n")
        let literal = try ptc(["run", "p"], extra: env)
        #expect(literal.status == 78 && literal.stderr.contains("\(config):3: profile.p.passphrase"), "\(literal.stderr)")
    }
}

// MARK: - readers

extension EncryptionCLITests {
    /// `sessions`, `list`'s details, `latest` and `pull`'s check read encrypted archives with a key, and
    /// without one do what they did (names only, skipped by latest, the header checked).
    @Test func readersOpenEncryptedArchivesWithAKey() throws {
        let db = try Fixtures.database(in: dir, bytes: 800_000, seed: 45)
        let a = try keygen("a.txt")
        _ = try keygen("b.txt")
        let out = dir.file("out") + "/"
        #expect(try ptc(["export", "--db", db.path, "--output", out, "--quiet"]).status == 0)
        sleep(1) // the encrypted archive is the newer one
        let export = try ptc(["export", "--db", db.path, "--output", out, "--encrypt-to", a, "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        let sealed = try #require(names.first { $0.hasSuffix(".age") }), plain = try #require(names.first { !$0.hasSuffix(".age") })
        let key = ["--identity", dir.file("a.txt")]

        // sessions: 77 naming --identity without a key; with it, the manifest's sessions.
        let blind = try ptc(["sessions", out + sealed])
        #expect(blind.status == 77 && blind.stderr.contains("--identity"), "\(blind.stderr)")
        let sessions = try ptc(["sessions", out + sealed, "--json"] + key)
        #expect(sessions.status == 0, "\(sessions.stderr)")
        let plainSessions = try jsonResult(SessionsReport.self, try ptc(["sessions", out + plain, "--json"]).stdout)
        #expect(try jsonResult(SessionsReport.self, sessions.stdout).totalSessionCount == plainSessions.totalSessionCount)

        // list: names only without a key, manifests with one (a key that does not fit: the reason).
        let listed = try jsonResult(ListReport.self, try ptc(["list", out, "--json"]).stdout)
        #expect(listed.archives.first { $0.name == sealed }?.sessionCount == nil)
        let detailed = try jsonResult(ListReport.self, try ptc(["list", out, "--json"] + key).stdout)
        #expect(detailed.archives.first { $0.name == sealed }?.sessionCount == plainSessions.totalSessionCount)
        let wrong = try jsonResult(ListReport.self, try ptc(["list", out, "--json", "--identity", dir.file("b.txt")]).stdout)
        #expect(wrong.archives.first { $0.name == sealed }?.problem?.contains("none of the given identities") == true)

        // latest: the plain archive without a key, the newer encrypted one with a key.
        let plainLatest = try ptc(["verify", out + "latest", "--json"])
        #expect(try jsonResult(VerifyReport.self, plainLatest.stdout).archive.hasSuffix(plain), "\(plainLatest.stdout)")
        let sealedLatest = try ptc(["verify", out + "latest", "--json"] + key)
        #expect(try jsonResult(VerifyReport.self, sealedLatest.stdout).archive.hasSuffix(sealed), "\(sealedLatest.stderr)")

        // pull from a real WebDAV server: the manifest checked with a key, 77 and nothing kept with a wrong one.
        let server = try RcloneWebDAV.shared()
        let remote = "webdav+\(server.baseURL)/readers-encrypted/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        #expect(try ptc(["push", out + sealed, remote, "--quiet"], extra: credentials).status == 0)
        let pulledWrong = try ptc(["pull", remote + "latest", "-o", dir.file("wrong/"), "--identity", dir.file("b.txt")], extra: credentials)
        #expect(pulledWrong.status == 77, "\(pulledWrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("wrong/" + sealed)))
        let pulled = try ptc(["pull", remote + "latest", "-o", dir.file("pulled/")] + key, extra: credentials)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try sha256(ofFile: dir.file("pulled/" + sealed)) == (try sha256(ofFile: out + sealed)))
        let remoteSessions = try ptc(["sessions", remote + sealed, "--json"] + key, extra: credentials)
        #expect(try jsonResult(SessionsReport.self, remoteSessions.stdout).totalSessionCount == plainSessions.totalSessionCount)
    }
}

// MARK: - the warning for archives leaving in the clear

extension EncryptionCLITests {
    /// The manifest counts secret-looking variables at export; pushing such an archive unencrypted and
    /// unredacted (push, export --to) prints one warning line; encrypted or redacted archives none.
    @Test func pushingSecretsInTheClearWarnsOnce() throws {
        let db = try Fixtures.database(in: dir, bytes: 600_000, seed: 46)
        let a = try keygen("a.txt")
        let server = try RcloneWebDAV.shared()
        let remote = "webdav+\(server.baseURL)/secrets-warning/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        func warnings(_ result: ProcessResult) -> [Substring] {
            result.stderr.split(separator: "\n").filter { $0.hasPrefix("ptc-backup: warning:") && $0.contains("secret-looking") }
        }

        let plain = dir.file("plain.tar.zst"), redacted = dir.file("redacted.tar.zst"), sealed = dir.file("sealed.tar.zst.age")
        #expect(try ptc(["export", "--db", db.path, "--output", plain, "--quiet"]).status == 0)
        #expect(try ptc(["export", "--db", db.path, "--output", redacted, "--redact-env", "--quiet"]).status == 0)
        #expect(try ptc(["export", "--db", db.path, "--output", sealed, "--encrypt-to", a, "--quiet"]).status == 0)
        let counted = try jsonResult(InspectReport.self, try ptc(["inspect", plain, "--json"]).stdout).manifest
        #expect((counted.secretEnvironmentVariables ?? 0) > 0)
        #expect(try jsonResult(InspectReport.self, try ptc(["inspect", redacted, "--json"]).stdout).manifest.secretEnvironmentVariables == nil)

        let pushed = try ptc(["push", plain, remote], extra: credentials)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(warnings(pushed).count == 1 && pushed.stderr.contains("\(counted.secretEnvironmentVariables!) environment variables"), "\(pushed.stderr)")
        #expect(try ptc(["push", plain, remote + "again/", "--quiet"], extra: credentials).stderr.isEmpty)
        for quiet in [redacted, sealed] {
            let result = try ptc(["push", quiet, remote], extra: credentials)
            #expect(result.status == 0 && warnings(result).isEmpty, "\(result.stderr)")
        }
        let exported = try ptc(["export", "--db", db.path, "--output", dir.file("out/"), "--to", remote + "export/"], extra: credentials)
        #expect(exported.status == 0 && warnings(exported).count == 1, "\(exported.stderr)")
        // With --json the envelope carries it too.
        let json = try ptc(["push", plain, remote + "json/", "--json"], extra: credentials)
        #expect(json.status == 0 && warnings(json).count == 1, "\(json.stderr)")
        let envelope = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((envelope?["warnings"] as? [String])?.first?.contains("secret-looking") == true, "\(json.stdout)")
    }
}
