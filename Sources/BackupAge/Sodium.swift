import CSodium

/// libsodium, initialised once (`sodium_init` is idempotent and thread-safe; this only runs it once).
let sodiumReady: Bool = sodium_init() >= 0

@inline(__always) func requireSodium() {
    precondition(sodiumReady, "sodium_init failed")
}

/// Secret bytes (a file key, an X25519 scalar, a derived key) in memory of their own, wiped with
/// `sodium_memzero` when released. Never printed.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible {
    let buffer: UnsafeMutableRawBufferPointer

    init(count: Int) {
        buffer = .allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
    }

    /// Copies `bytes`; wipe the source yourself if it was secret.
    init(copying bytes: UnsafeRawBufferPointer) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        count = bytes.count
        if bytes.count > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    /// Random bytes from `randombytes_buf`.
    static func random(count: Int) -> SecretBytes {
        requireSodium()
        let secret = SecretBytes(count: count)
        randombytes_buf(secret.buffer.baseAddress!, count)
        return secret
    }

    let count: Int

    deinit {
        sodium_memzero(buffer.baseAddress!, buffer.count)
        buffer.deallocate()
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count]) }
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]) }

    public var description: String { "<\(count) secret bytes>" }
}

/// Wipes an array that held secret bytes.
func wipe(_ array: inout [UInt8]) {
    array.withUnsafeMutableBytes { if let base = $0.baseAddress { sodium_memzero(base, $0.count) } }
}

/// The primitives, all from libsodium; only their composition (HKDF) is written here.
enum Sodium {
    static let keyBytes = 32
    static let tagBytes = Int(crypto_aead_chacha20poly1305_IETF_ABYTES)

    /// X25519 public key of `secret` (`crypto_scalarmult_base`).
    static func x25519Base(_ secret: UnsafeRawBufferPointer) -> [UInt8] {
        requireSodium()
        var out = [UInt8](repeating: 0, count: 32)
        precondition(crypto_scalarmult_base(&out, secret.bindMemory(to: UInt8.self).baseAddress!) == 0)
        return out
    }

    /// The X25519 shared secret, or nil when it is all zero (a low-order point; `crypto_scalarmult` returns -1).
    static func x25519(_ secret: UnsafeRawBufferPointer, _ point: [UInt8]) -> SecretBytes? {
        requireSodium()
        precondition(point.count == 32 && secret.count == 32)
        let shared = SecretBytes(count: 32)
        let rc = crypto_scalarmult(shared.buffer.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                   secret.bindMemory(to: UInt8.self).baseAddress!, point)
        guard rc == 0, sodium_is_zero(shared.buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), 32) == 0 else { return nil }
        return shared
    }

    /// ChaCha20-Poly1305 (IETF) sealing of `plaintext` into `out` (plaintext.count + 16 bytes).
    static func seal(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
                     into out: UnsafeMutableRawBufferPointer) {
        requireSodium()
        precondition(out.count >= plaintext.count + tagBytes && key.count == 32 && nonce.count == 12)
        var length: UInt64 = 0
        let rc = crypto_aead_chacha20poly1305_ietf_encrypt(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count), nil, 0, nil,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        precondition(rc == 0 && Int(length) == plaintext.count + tagBytes)
    }

    /// Opens `ciphertext` into `out` (ciphertext.count - 16 bytes); false when the tag does not verify.
    static func open(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
                     into out: UnsafeMutableRawBufferPointer) -> Bool {
        requireSodium()
        guard ciphertext.count >= tagBytes else { return false }
        precondition(out.count >= ciphertext.count - tagBytes && key.count == 32 && nonce.count == 12)
        var length: UInt64 = 0
        let rc = crypto_aead_chacha20poly1305_ietf_decrypt(
            out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length, nil,
            ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count), nil, 0,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        return rc == 0
    }

    /// HMAC-SHA-256 (`crypto_auth_hmacsha256_*`, any key length) of the concatenation of `parts`.
    static func hmacSHA256(key: UnsafeRawBufferPointer, _ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        requireSodium()
        var state = crypto_auth_hmacsha256_state()
        defer { withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) } }
        // An empty key still needs a valid pointer.
        let one = [UInt8](repeating: 0, count: 1)
        one.withUnsafeBufferPointer { fallback in
            _ = crypto_auth_hmacsha256_init(&state, key.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback.baseAddress!, key.count)
        }
        for part in parts where part.count > 0 {
            crypto_auth_hmacsha256_update(&state, part.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(part.count))
        }
        var out = [UInt8](repeating: 0, count: 32)
        crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    /// scrypt (`crypto_pwhash_scryptsalsa208sha256_ll`) with N = 2^logN, r = 8, p = 1, 32 bytes out.
    static func scrypt(passphrase: [UInt8], salt: [UInt8], logN: Int) -> SecretBytes {
        requireSodium()
        let key = SecretBytes(count: 32)
        let rc = crypto_pwhash_scryptsalsa208sha256_ll(passphrase, passphrase.count, salt, salt.count, UInt64(1) << UInt64(logN), 8, 1,
                                                       key.buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        precondition(rc == 0, "scrypt failed (out of memory?)")
        return key
    }
}

/// HKDF-SHA-256 (RFC 5869) over libsodium's HMAC-SHA-256.
public enum HKDF {
    /// `length` bytes (at most 255 × 32) of output keying material.
    public static func sha256(ikm: UnsafeRawBufferPointer, salt: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length <= 255 * 32)
        let zeroSalt = [UInt8](repeating: 0, count: 32)
        var prk = (salt.isEmpty ? zeroSalt : salt).withUnsafeBytes { Sodium.hmacSHA256(key: $0, [ikm]) }
        defer { wipe(&prk) }
        var out: [UInt8] = []
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while out.count < length {
            var block = prk.withUnsafeBytes { key in
                previous.withUnsafeBytes { p in
                    info.withUnsafeBytes { i in
                        withUnsafeBytes(of: counter) { c in Sodium.hmacSHA256(key: key, [p, i, c]) }
                    }
                }
            }
            out.append(contentsOf: block)
            wipe(&previous)
            previous = block
            wipe(&block)
            counter &+= 1
        }
        wipe(&previous)
        return Array(out.prefix(length))
    }

    /// As ``sha256(ikm:salt:info:length:)``, the 32-byte result kept as a secret.
    static func key(ikm: UnsafeRawBufferPointer, salt: [UInt8], info: String) -> SecretBytes {
        var okm = sha256(ikm: ikm, salt: salt, info: Array(info.utf8), length: 32)
        defer { wipe(&okm) }
        return okm.withUnsafeBytes { SecretBytes(copying: $0) }
    }
}

func sodiumMemzero(_ base: UnsafeMutableRawPointer, _ count: Int) { sodium_memzero(base, count) }
