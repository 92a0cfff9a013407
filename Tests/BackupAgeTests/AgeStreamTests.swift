@testable import BackupAge
import BackupDigest
import BackupTestSupport
import Testing

@Suite struct AgeStreamTests {
    static let sizes = [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 5]
    let identity = AgeIdentity.generate()

    @Test(arguments: sizes)
    func roundTripsSequentially(size: Int) throws {
        let plaintext = TemporaryDirectory.randomBytes(size)
        let sink = try encrypt(plaintext, to: [identity.recipient])
        #expect(Int64(sink.bytes.count) == ageCiphertextSize(plaintext: Int64(size), payloadOffset: Int64(sink.writes[0].count)))
        // Without a reserved prefix the writes only go forward.
        #expect(zip(sink.writes, sink.writes.dropFirst()).allSatisfy { $0.offset + Int64($0.count) == $1.offset })
        let (decrypted, error) = decryptAll(sink.bytes, identities: [identity])
        #expect(error == nil)
        #expect(decrypted == plaintext)
    }

    /// The archive writer's order: body first from offset R, the first R bytes last.
    @Test(arguments: [(65537, 1), (65537, 4096), (65536, 65536), (3 * 65536, 65536), (3 * 65536 + 7, 70000), (200_000, 200_000), (1, 1)])
    func roundTripsWithTheReservedPrefixWrittenLast(size: Int, prefix: Int) throws {
        let plaintext = TemporaryDirectory.randomBytes(size)
        let sink = try encrypt(plaintext, to: [identity.recipient], prefix: prefix, piece: 4099)
        let (decrypted, error) = decryptAll(sink.bytes, identities: [identity])
        #expect(error == nil)
        #expect(decrypted == plaintext)
        // Every chunk is written once, at its own offset.
        let chunkWrites = sink.writes.dropFirst().map(\.offset)
        #expect(Set(chunkWrites).count == chunkWrites.count)
        #expect(chunkWrites.count == max(1, (size + 65535) / 65536))
    }

    @Test func misuseIsRefused() throws {
        let sink = MemorySink()
        let encryptor = try AgeEncryptor(recipients: [identity.recipient], sink: sink, reservedPrefix: 10)
        #expect(throws: AgeError.misuse("finish before the reserved prefix was written")) { try encryptor.finish() }
        #expect(throws: AgeError.self) { try [UInt8](repeating: 0, count: 9).withUnsafeBytes { try encryptor.fillPrefix($0) } }
        #expect(throws: AgeError.self) {
            try AgeEncryptor(recipients: [identity.recipient, try AgePassphrase("x", workFactor: 10)], sink: MemorySink())
        }
    }

    @Test func severalRecipientsEachDecrypt() throws {
        let others = (0..<3).map { _ in AgeIdentity.generate() }
        let plaintext = TemporaryDirectory.randomBytes(100_000)
        let sink = try encrypt(plaintext, to: others.map(\.recipient))
        for other in others {
            let (decrypted, error) = decryptAll(sink.bytes, identities: [identity, other])
            #expect(error == nil)
            #expect(decrypted == plaintext)
        }
        let (_, error) = decryptAll(sink.bytes, identities: [identity])
        #expect(error == .noMatchingIdentity(types: ["X25519", "X25519", "X25519"]))
    }

    @Test func passphraseRoundTrips() throws {
        let plaintext = TemporaryDirectory.randomBytes(70_000)
        let sink = try encrypt(plaintext, to: [try AgePassphrase("correct horse", workFactor: 10)])
        let (decrypted, error) = decryptAll(sink.bytes, identities: [try AgePassphrase("correct horse")])
        #expect(error == nil)
        #expect(decrypted == plaintext)
        #expect(decryptAll(sink.bytes, identities: [try AgePassphrase("wrong")]).error == .noMatchingIdentity(types: ["scrypt"]))
        #expect(decryptAll(sink.bytes, identities: [try AgePassphrase("correct horse", maxWorkFactor: 9)]).error
            == .malformedHeader("the scrypt work factor 10 is over the limit 9"))
    }

    /// Any modified byte, truncation at any chunk boundary and trailing data fail as damaged payload;
    /// a modified header byte fails as a header error.
    @Test func tamperingTruncationAndTrailingDataAreDetected() throws {
        let plaintext = TemporaryDirectory.randomBytes(3 * 65536 + 100)
        let sink = try encrypt(plaintext, to: [identity.recipient], prefix: 1000)
        let ciphertext = sink.bytes
        let payloadStart = Int(sink.writes[0].count)
        let sealed = 65536 + 16
        for chunk in 0..<4 {
            for offset in [0, 7, sealed - 1] where payloadStart + chunk * sealed + offset < ciphertext.count {
                var copy = ciphertext
                copy[payloadStart + chunk * sealed + offset] ^= 0x01
                guard case .damagedPayload = decryptAll(copy, identities: [identity]).error else {
                    Issue.record("flipped byte in chunk \(chunk) at \(offset) not detected"); continue
                }
            }
            // Truncated right after this chunk (for the last chunk: one byte short).
            let cut = min(payloadStart + (chunk + 1) * sealed, ciphertext.count - 1)
            guard case .damagedPayload = decryptAll(Array(ciphertext[..<cut]), identities: [identity]).error else {
                Issue.record("truncation after chunk \(chunk) not detected"); continue
            }
        }
        guard case .malformedHeader = decryptAll(Array(ciphertext[..<(payloadStart - 1)]), identities: [identity]).error else {
            Issue.record("short nonce not detected"); return
        }
        #expect(decryptAll(Array(ciphertext[..<payloadStart]), identities: [identity]).error == .damagedPayload("the payload has no chunks"))
        guard case .damagedPayload = decryptAll(ciphertext + [0], identities: [identity]).error else {
            Issue.record("trailing byte not detected"); return
        }
        var header = ciphertext
        header[30] ^= 0x01
        #expect(decryptAll(header, identities: [identity]).error != nil)
        // The header MAC covers the stanza line: a changed byte there is caught.
        var macked = ciphertext
        let text = Array(String(decoding: ciphertext[..<payloadStart], as: UTF8.self).utf8)
        let macLine = text.indices.first { text[$0...].starts(with: Array("--- ".utf8)) }!
        macked[macLine + 4] = macked[macLine + 4] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let error = decryptAll(macked, identities: [identity]).error
        #expect(error == .headerMACMismatch || error == .malformedHeader("the MAC is not 32 bytes of canonical base64"))
    }

    @Test func theHeaderAloneTellsTheRecipientTypes() throws {
        let sink = try encrypt([1, 2, 3], to: [identity.recipient, AgeIdentity.generate().recipient])
        var offset = 0
        let bytes = sink.bytes
        let header = try AgeDecryptor.readHeader { buffer in
            let n = min(buffer.count, bytes.count - offset)
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
        #expect(header.stanzaTypes == ["X25519", "X25519"])
    }
}
