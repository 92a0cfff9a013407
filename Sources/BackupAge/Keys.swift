/// Something that can unwrap a file key from a header's stanzas: an X25519 identity or a passphrase.
public protocol AgeIdentityProtocol: Sendable {
    /// The file key from `stanza`, nil when the stanza is not for this identity (another type, or a
    /// tag that does not verify). Throws ``AgeError/malformedHeader(_:)`` for a stanza of this
    /// identity's type that is malformed (wrong arguments, low-order share, wrong file-key size).
    func unwrap(_ stanza: AgeStanza) throws(AgeError) -> SecretBytes?
}

/// Something a file key can be wrapped to: an X25519 recipient or a passphrase.
public protocol AgeRecipientProtocol: Sendable {
    func wrap(_ fileKey: SecretBytes) throws(AgeError) -> AgeStanza
}

let fileKeySize = 16
private let zeroNonce = [UInt8](repeating: 0, count: 12)

/// Wraps a 16-byte file key under a 32-byte key (ChaCha20-Poly1305, zero nonce).
private func wrapFileKey(_ fileKey: SecretBytes, with key: SecretBytes) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: fileKeySize + Sodium.tagBytes)
    zeroNonce.withUnsafeBytes { nonce in
        out.withUnsafeMutableBytes { Sodium.seal(key: key.bytes, nonce: nonce, plaintext: fileKey.bytes, into: $0) }
    }
    return out
}

/// The file key, nil when the tag does not verify; a body of the wrong size is malformed.
private func unwrapFileKey(_ body: [UInt8], with key: SecretBytes, type: String) throws(AgeError) -> SecretBytes? {
    guard body.count == fileKeySize + Sodium.tagBytes else { throw .malformedHeader("the \(type) stanza wraps a file key of the wrong size") }
    let fileKey = SecretBytes(count: fileKeySize)
    let opened = zeroNonce.withUnsafeBytes { nonce in
        body.withUnsafeBytes { Sodium.open(key: key.bytes, nonce: nonce, ciphertext: $0, into: fileKey.mutableBytes) }
    }
    return opened ? fileKey : nil
}

/// An age X25519 recipient (`age1...`): a Curve25519 public key.
public struct AgeRecipient: AgeRecipientProtocol, Hashable, CustomStringConvertible {
    public let publicKey: [UInt8]

    /// Parses `age1...` (bech32, lower case).
    public init(_ text: String) throws(AgeError) {
        guard let decoded = Bech32.decode(text), decoded.hrp == "age", decoded.data.count == 32 else {
            throw .invalidKey("not an age X25519 recipient (age1...): \(text.prefix(80))")
        }
        publicKey = decoded.data
    }

    init(publicKey: [UInt8]) { self.publicKey = publicKey }

    /// The `age1...` string.
    public var string: String { Bech32.encode(hrp: "age", data: publicKey) }
    public var description: String { string }

    public func wrap(_ fileKey: SecretBytes) throws(AgeError) -> AgeStanza {
        // An ephemeral key per stanza; the wrapping key binds both public values.
        let ephemeral = SecretBytes.random(count: 32)
        let share = Sodium.x25519Base(ephemeral.bytes)
        guard let shared = Sodium.x25519(ephemeral.bytes, publicKey) else {
            throw .invalidKey("the recipient \(string) is a low-order point")
        }
        let key = HKDF.key(ikm: shared.bytes, salt: share + publicKey, info: "age-encryption.org/v1/X25519")
        return AgeStanza(type: "X25519", arguments: [Base64.encode(share)], body: wrapFileKey(fileKey, with: key))
    }

    /// Recipients from a recipients file's text, as age reads it: one `age1...` a line, blank lines
    /// and `#` comments skipped.
    public static func parseFile(_ text: String, name: String) throws(AgeError) -> [AgeRecipient] {
        var out: [AgeRecipient] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                out.append(try AgeRecipient(String(line)))
            } catch {
                throw .invalidKey("\(name) line \(number + 1): not an age X25519 recipient (age1...)")
            }
        }
        guard !out.isEmpty else { throw .invalidKey("\(name) holds no recipients") }
        return out
    }
}

/// An age X25519 identity (`AGE-SECRET-KEY-1...`): a Curve25519 secret key, wiped when released.
public struct AgeIdentity: AgeIdentityProtocol, CustomStringConvertible {
    private let secret: SecretBytes
    public let recipient: AgeRecipient

    /// A new random identity.
    public static func generate() -> AgeIdentity {
        AgeIdentity(secret: SecretBytes.random(count: 32))
    }

    private init(secret: SecretBytes) {
        self.secret = secret
        recipient = AgeRecipient(publicKey: Sodium.x25519Base(secret.bytes))
    }

    /// Parses `AGE-SECRET-KEY-1...` (bech32, upper case as age writes it).
    public init(_ text: String) throws(AgeError) {
        guard let decoded = Bech32.decode(text), decoded.hrp == "AGE-SECRET-KEY-", decoded.data.count == 32 else {
            throw .invalidKey("not an age X25519 identity (AGE-SECRET-KEY-1...)")
        }
        var data = decoded.data
        defer { wipe(&data) }
        self.init(secret: data.withUnsafeBytes { SecretBytes(copying: $0) })
    }

    /// The `AGE-SECRET-KEY-1...` string: secret, for writing an identity file only.
    public var secretString: String {
        Bech32.encode(hrp: "AGE-SECRET-KEY-", data: Array(secret.bytes), uppercase: true)
    }

    /// Redacted: the public key only.
    public var description: String { "AgeIdentity(\(recipient.string))" }

    public func unwrap(_ stanza: AgeStanza) throws(AgeError) -> SecretBytes? {
        guard stanza.type == "X25519" else { return nil }
        guard stanza.arguments.count == 1 else { throw .malformedHeader("an X25519 stanza has \(stanza.arguments.count) arguments, not 1") }
        guard let share = Base64.decode(Array(stanza.arguments[0].utf8)), share.count == 32 else {
            throw .malformedHeader("an X25519 stanza's share is not 32 bytes of canonical base64")
        }
        guard let shared = Sodium.x25519(secret.bytes, share) else {
            throw .malformedHeader("an X25519 stanza's share is a low-order point (all-zero shared secret)")
        }
        let key = HKDF.key(ikm: shared.bytes, salt: share + recipient.publicKey, info: "age-encryption.org/v1/X25519")
        return try unwrapFileKey(stanza.body, with: key, type: "X25519")
    }

    /// Identities from an identity file's text, as age-keygen writes it: `#` comments and blank lines
    /// skipped, every other line an `AGE-SECRET-KEY-1...`.
    public static func parseFile(_ text: String, name: String) throws(AgeError) -> [AgeIdentity] {
        var out: [AgeIdentity] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                out.append(try AgeIdentity(String(line)))
            } catch {
                throw .invalidKey("\(name) line \(number + 1): not an age X25519 identity (AGE-SECRET-KEY-1...)")
            }
        }
        guard !out.isEmpty else { throw .invalidKey("\(name) holds no identities") }
        return out
    }

    /// The identity file age-keygen writes: created time, public key, secret key.
    public func identityFile(created: String) -> String {
        "# created: \(created)\n# public key: \(recipient.string)\n\(secretString)\n"
    }
}

/// A passphrase, as a recipient (scrypt stanza, work factor `logN`) and as an identity (accepting work
/// factors up to `maxWorkFactor`, 22 by default as age).
public struct AgePassphrase: AgeIdentityProtocol, AgeRecipientProtocol, CustomStringConvertible {
    private let passphrase: SecretBytes
    public let workFactor: Int
    public let maxWorkFactor: Int

    public init(_ passphrase: String, workFactor: Int = 18, maxWorkFactor: Int = 22) throws(AgeError) {
        guard !passphrase.isEmpty else { throw .invalidKey("the passphrase is empty") }
        var bytes = Array(passphrase.utf8)
        defer { wipe(&bytes) }
        self.passphrase = bytes.withUnsafeBytes { SecretBytes(copying: $0) }
        self.workFactor = workFactor
        self.maxWorkFactor = maxWorkFactor
    }

    public var description: String { "AgePassphrase(<redacted>)" }

    private static let label = Array("age-encryption.org/v1/scrypt".utf8)

    private func derive(salt: [UInt8], logN: Int) -> SecretBytes {
        var bytes = Array(passphrase.bytes)
        defer { wipe(&bytes) }
        return Sodium.scrypt(passphrase: bytes, salt: Self.label + salt, logN: logN)
    }

    public func wrap(_ fileKey: SecretBytes) throws(AgeError) -> AgeStanza {
        let salt = Array(SecretBytes.random(count: 16).bytes)
        let key = derive(salt: salt, logN: workFactor)
        return AgeStanza(type: "scrypt", arguments: [Base64.encode(salt), String(workFactor)], body: wrapFileKey(fileKey, with: key))
    }

    public func unwrap(_ stanza: AgeStanza) throws(AgeError) -> SecretBytes? {
        guard stanza.type == "scrypt" else { return nil }
        guard stanza.arguments.count == 2 else { throw .malformedHeader("a scrypt stanza has \(stanza.arguments.count) arguments, not 2") }
        guard let salt = Base64.decode(Array(stanza.arguments[0].utf8)), salt.count == 16 else {
            throw .malformedHeader("a scrypt stanza's salt is not 16 bytes of canonical base64")
        }
        // Decimal without sign or leading zero, as age requires.
        let factor = Array(stanza.arguments[1].utf8)
        guard factor.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), factor.first != 0x30, factor.count <= 4,
              let logN = Int(stanza.arguments[1]), logN > 0 else {
            throw .malformedHeader("a scrypt stanza's work factor is not a positive decimal number")
        }
        guard logN <= maxWorkFactor else {
            throw .malformedHeader("the scrypt work factor \(logN) is over the limit \(maxWorkFactor)")
        }
        guard stanza.body.count == fileKeySize + Sodium.tagBytes else {
            throw .malformedHeader("the scrypt stanza wraps a file key of the wrong size")
        }
        let key = derive(salt: salt, logN: logN)
        return try unwrapFileKey(stanza.body, with: key, type: "scrypt")
    }
}
