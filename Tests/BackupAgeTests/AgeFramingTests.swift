@testable import BackupAge
import Testing

@Suite struct AgeFramingTests {
    private func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    /// RFC 5869 appendix A, test cases 1-3 (SHA-256).
    @Test func hkdfMatchesRFC5869() {
        let cases: [(ikm: [UInt8], salt: [UInt8], info: [UInt8], okm: String)] = [
            ([UInt8](repeating: 0x0b, count: 22), Array(0x00...0x0c), Array(0xf0...0xf9),
             "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
            (Array(0x00...0x4f), Array(0x60...0xaf), Array(0xb0...0xff),
             "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
            ([UInt8](repeating: 0x0b, count: 22), [], [],
             "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
        ]
        for c in cases {
            let okm = c.ikm.withUnsafeBytes { HKDF.sha256(ikm: $0, salt: c.salt, info: c.info, length: c.okm.count / 2) }
            #expect(okm == hex(c.okm))
        }
    }

    @Test func base64IsStrictAndCanonical() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64.encode(bytes)
            #expect(!text.contains("="))
            #expect(Base64.decode(Array(text.utf8)) == bytes)
        }
        #expect(Base64.decode(Array("AA==".utf8)) == nil)      // padding
        #expect(Base64.decode(Array("AB".utf8)) == nil)        // non-zero unused bits
        #expect(Base64.decode(Array("AA".utf8)) == [0])
        #expect(Base64.decode(Array("A".utf8)) == nil)         // impossible length
        #expect(Base64.decode(Array("AA\r".utf8)) == nil)
        #expect(Base64.decode(Array("A-_A".utf8)) == nil)      // URL alphabet
    }

    @Test func keysRoundTripThroughBech32() throws {
        let identity = AgeIdentity.generate()
        let parsed = try AgeIdentity(identity.secretString)
        #expect(parsed.recipient == identity.recipient)
        #expect(identity.secretString.hasPrefix("AGE-SECRET-KEY-1"))
        #expect(identity.secretString == identity.secretString.uppercased())
        #expect(identity.recipient.string.hasPrefix("age1"))
        #expect(try AgeRecipient(identity.recipient.string) == identity.recipient)
        // Never printed: the description names the public key only.
        #expect(!"\(identity)".contains("SECRET"))
        #expect("\(try AgePassphrase("hunter2"))" == "AgePassphrase(<redacted>)")
        // Mixed case, a flipped character, the wrong prefix: usage errors.
        var flipped = Array(identity.recipient.string)
        flipped[10] = flipped[10] == "q" ? "p" : "q"
        for bad in [String(flipped), identity.recipient.string.uppercased() + "x", identity.secretString.lowercased(),
                    "AGE-SECRET-KEY-1" + String(identity.secretString.dropFirst(16)).lowercased(), "age1", ""] {
            #expect(throws: AgeError.self) { try AgeRecipient(bad) }
            #expect(throws: AgeError.self) { try AgeIdentity(bad) }
        }
    }

    @Test func identityAndRecipientFilesSkipCommentsAndBlankLines() throws {
        let a = AgeIdentity.generate(), b = AgeIdentity.generate()
        let file = a.identityFile(created: "2026-01-01T00:00:00Z") + "\n# another\n" + b.secretString + "\n"
        let identities = try AgeIdentity.parseFile(file, name: "keys.txt")
        #expect(identities.map(\.recipient) == [a.recipient, b.recipient])
        #expect(try AgeRecipient.parseFile("# team\n\(a.recipient)\n\n\(b.recipient)\n", name: "r.txt") == [a.recipient, b.recipient])
        #expect(throws: AgeError.invalidKey("keys.txt line 1: not an age X25519 identity (AGE-SECRET-KEY-1...)")) {
            try AgeIdentity.parseFile("ssh-ed25519 AAAA\n", name: "keys.txt")
        }
        #expect(throws: AgeError.self) { try AgeRecipient.parseFile("# nothing\n", name: "r.txt") }
    }

    @Test func stanzaBodiesWrapAt64Columns() throws {
        // 48 bytes encode to exactly 64 columns, so an empty final line follows.
        let stanza = AgeStanza(type: "t", arguments: ["a"], body: [UInt8](repeating: 1, count: 48))
        let text = String(decoding: stanza.encoded, as: UTF8.self)
        #expect(text.hasSuffix("\n\n"))
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).map(\.count) == [6, 64, 0, 0])
    }
}
