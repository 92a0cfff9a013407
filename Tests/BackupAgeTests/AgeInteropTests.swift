import BackupAge
import BackupTestSupport
import Foundation
import SystemPackage
import Testing

/// Interop with Debian's `age` and `age-keygen` both ways. Skipped, saying so, when they are missing
/// (Scripts/install-deps installs them).
@Suite(.enabled(if: AgeTool.age != nil && AgeTool.ageKeygen != nil, "the age tool is not installed (apt-get install age)"))
struct AgeInteropTests {
    let dir = TemporaryDirectory("age-interop")

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file(name)))
        return dir.file(name)
    }

    /// The file's bytes; age -o creates no file for an empty output.
    private func read(_ name: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: dir.file(name)) else { return [] }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file(name))))
    }

    private func keygen(_ name: String) throws -> [AgeIdentity] {
        let result = try Binary.run(AgeTool.ageKeygen!, ["-o", dir.file(name)])
        #expect(result.status == 0, "\(result.stderr)")
        return try AgeIdentity.parseFile(String(decoding: try read(name), as: UTF8.self), name: name)
    }

    @Test func ageDecryptsWhatWeEncryptToSeveralRecipients() throws {
        let keys = try (0..<3).flatMap { try keygen("key\($0).txt") }
        // age-keygen -y agrees on the public keys.
        let publicKey = try Binary.run(AgeTool.ageKeygen!, ["-y", dir.file("key1.txt")])
        #expect(publicKey.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == keys[1].recipient.string)
        for size in [0, 1, 65536, 3 * 65536 + 9] {
            let plaintext = TemporaryDirectory.randomBytes(size)
            let sink = try encrypt(plaintext, to: keys.map(\.recipient), prefix: min(size, 5000))
            let encrypted = try write(sink.bytes, "ours-\(size).age")
            for i in 0..<3 {
                try? FileManager.default.removeItem(atPath: dir.file("out"))
                let result = try Binary.run(AgeTool.age!, ["-d", "-i", dir.file("key\(i).txt"), "-o", dir.file("out"), encrypted])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try read("out") == plaintext)
            }
        }
    }

    @Test func weDecryptWhatAgeEncrypts() throws {
        let keys = try keygen("a.txt") + keygen("b.txt")
        let plaintext = TemporaryDirectory.randomBytes(200_000)
        let input = try write(plaintext, "plain")
        let recipients = try write(Array("# team\n\(keys[0].recipient)\n\n\(keys[1].recipient)\n".utf8), "recipients.txt")
        for (name, arguments) in [("r", ["-r", keys[0].recipient.string]), ("R", ["-R", recipients]),
                                  ("i", ["-e", "-i", dir.file("b.txt")])] {
            let result = try Binary.run(AgeTool.age!, arguments + ["-o", dir.file("\(name).age"), input])
            #expect(result.status == 0, "\(result.stderr)")
            let (decrypted, error) = decryptAll(try read("\(name).age"), identities: [keys[1], keys[0]])
            #expect(error == nil, "age \(arguments): \(String(describing: error))")
            #expect(decrypted == plaintext)
        }
        // A key file from age-keygen holding someone else's key: no match, naming the stanza type.
        let stranger = try keygen("c.txt")
        #expect(decryptAll(try read("r.age"), identities: stranger).error == .noMatchingIdentity(types: ["X25519"]))
    }

    @Test func passphrasesWorkBothWays() throws {
        let plaintext = TemporaryDirectory.randomBytes(100_000)
        let input = try write(plaintext, "plain")
        // age -p (work factor 18, its default) → we decrypt.
        let encrypted = try AgeTool.withPassphrase("tr0ub4dor", ["-p", "-o", dir.file("theirs.age"), input])
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        let (decrypted, error) = decryptAll(try read("theirs.age"), identities: [try AgePassphrase("tr0ub4dor")])
        #expect(error == nil)
        #expect(decrypted == plaintext)
        // We encrypt (a small work factor keeps the test quick) → age -d.
        let sink = try encrypt(plaintext, to: [try AgePassphrase("tr0ub4dor", workFactor: 12)], prefix: 777)
        let ours = try write(sink.bytes, "ours.age")
        let result = try AgeTool.withPassphrase("tr0ub4dor", ["-d", "-o", dir.file("out"), ours])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try read("out") == plaintext)
    }
}
