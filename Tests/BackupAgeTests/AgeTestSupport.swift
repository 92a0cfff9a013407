import BackupAge
import BackupDigest
import BackupTestSupport
import Foundation
import SystemPackage

/// Resources shipped with the tests: the C2SP/CCTV age vectors and the pty helper for `age -p`.
enum AgeResources {
    static var root: String { Bundle.module.bundleURL.appendingPathComponent("Resources").path }
    static var vectors: String { (root as NSString).appendingPathComponent("testdata") }
    static var ptyHelper: String { (root as NSString).appendingPathComponent("age_pty.py") }
}

/// The `age` tool, when installed.
enum AgeTool {
    static func path(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static var age: String? { path("age") }
    static var ageKeygen: String? { path("age-keygen") }

    /// Runs age on a pseudo-terminal answering every passphrase prompt with `passphrase`.
    static func withPassphrase(_ passphrase: String, _ arguments: [String]) throws -> ProcessResult {
        try Binary.run("/usr/bin/env", ["python3", AgeResources.ptyHelper, passphrase, age!] + arguments)
    }
}

/// In-memory ciphertext sink with pwrite semantics (gaps read as zero until written).
final class MemorySink: AgeCiphertextSink {
    var bytes: [UInt8] = []
    var writes: [(offset: Int64, count: Int)] = []
    func write(_ chunk: UnsafeRawBufferPointer, at offset: Int64) throws {
        let end = Int(offset) + chunk.count
        if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
        bytes.replaceSubrange(Int(offset)..<end, with: chunk)
        writes.append((offset, chunk.count))
    }
}

/// Decrypts `ciphertext`; returns the plaintext released before the end or the error, and the error.
func decryptAll(_ ciphertext: [UInt8], identities: [any AgeIdentityProtocol]) -> (plaintext: [UInt8], error: AgeError?) {
    var offset = 0
    let source: (UnsafeMutableRawBufferPointer) throws -> Int = { buffer in
        let n = min(buffer.count, ciphertext.count - offset)
        if n > 0 { ciphertext.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
        offset += n
        return n
    }
    var plaintext: [UInt8] = []
    do {
        let decryptor = try AgeDecryptor(identities: identities, source: source)
        while let chunk = try decryptor.nextChunk() { plaintext += chunk }
        return (plaintext, nil)
    } catch {
        return (plaintext, error)
    }
}

/// Encrypts `plaintext` the way the archive writer does when `prefix` > 0: the body from offset
/// `prefix` in pieces of `piece` bytes, the prefix last.
func encrypt(_ plaintext: [UInt8], to recipients: [any AgeRecipientProtocol], prefix: Int = 0, piece: Int = 10_007) throws -> MemorySink {
    let sink = MemorySink()
    let encryptor = try AgeEncryptor(recipients: recipients, sink: sink, reservedPrefix: prefix)
    var start = prefix
    while start < plaintext.count {
        let end = min(start + piece, plaintext.count)
        try plaintext[start..<end].withUnsafeBytes { try encryptor.write($0) }
        start = end
    }
    if prefix > 0 { try plaintext[0..<prefix].withUnsafeBytes { try encryptor.fillPrefix($0) } }
    let total = try encryptor.finish()
    precondition(Int(total) == sink.bytes.count)
    return sink
}
