import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Streaming SHA-256 over OpenSSL's EVP interface (`EVP_sha256`), which uses the CPU's SHA
/// extensions where present. A class, so closures that stream data can share it; not thread-safe.
public final class SHA256 {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else { fatalError("EVP_DigestInit_ex(sha256) failed") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the digest.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // EVP_DigestUpdate only fails for a broken context, which would be our bug.
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1)
    }

    public func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The digest as 64 lower-case hex characters. Call once; the hasher is spent afterwards.
    public func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32)
        return Hex.encode(digest)
    }

    /// The digest of `bytes` in one call.
    public static func hex<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// HMAC-SHA256 (OpenSSL's one-shot `HMAC`), as S3's SigV4 signing chains it.
public enum HMACSHA256 {
    /// The 32-byte MAC of `message` under `key`.
    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let done = key.withUnsafeBytes { key in
            message.withUnsafeBufferPointer { message in
                HMAC(EVP_sha256(), key.baseAddress, Int32(key.count), message.baseAddress, message.count, &out, &length)
            }
        }
        // HMAC only fails for a broken digest or out of memory.
        precondition(done != nil && length == 32, "HMAC-SHA256 failed")
        return out
    }

    public static func mac(key: [UInt8], message: String) -> [UInt8] { mac(key: key, message: Array(message.utf8)) }
}

/// A file could not be read for hashing.
public struct DigestError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "cannot read \(path) to hash it: \(reason)" }
}

extension SHA256 {
    /// The SHA-256 of `length` bytes of the file at `path` from `offset` (to its end when `length` is nil),
    /// read 1 MiB at a time.
    public static func hex(ofFile path: String, offset: Int64 = 0, length: Int64? = nil) throws(DigestError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DigestError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        let hasher = SHA256()
        var position = offset
        var remaining = length ?? Int64.max
        while remaining > 0 {
            let n = pread(fd, buffer.baseAddress, Int(min(Int64(buffer.count), remaining)), off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw DigestError(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 {
                guard length == nil else { throw DigestError(path: path, reason: "the file ends before byte \(position + remaining)") }
                break
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += Int64(n)
            remaining -= Int64(n)
        }
        return hasher.finalize()
    }
}

extension SHA256 {
    /// The SHA-256 of the whole file and of each `partSize` piece of it, on two threads at once (each reads
    /// the file itself), for an upload in parts: the whole for the object's metadata, the pieces for each
    /// part's signature. Takes about as long as hashing the file once.
    public static func hexes(ofFile path: String, partSize: Int64) throws(DigestError) -> (whole: String, parts: [String]) {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        final class Outcome: @unchecked Sendable { var parts: Result<[String], DigestError> = .success([]) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread {
            outcome.parts = Result { () throws(DigestError) -> [String] in
                try stride(from: Int64(0), to: max(size, 1), by: Int(partSize)).map { offset throws(DigestError) in
                    try hex(ofFile: path, offset: offset, length: min(partSize, size - offset))
                }
            }
            done.signal()
        }.start()
        let whole = Result { () throws(DigestError) -> String in try hex(ofFile: path) }
        done.wait()
        return (try whole.get(), try outcome.parts.get())
    }
}

/// Hashes a file while another thread is still writing it (a download), reading behind the writer, so the
/// digest is ready moments after the last byte lands. The writer only appends (or truncates before any byte
/// is read); call ``finish()`` once it has closed the file, whatever happened (the thread polls until then).
public final class FollowingHasher: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var writerDone = false
    private let finished = DispatchSemaphore(value: 0)
    private var outcome: Result<(digest: String, bytes: Int64), DigestError>?

    public init(path: String) {
        self.path = path
        Thread { [self] in
            let result = Result { () throws(DigestError) -> (digest: String, bytes: Int64) in try follow() }
            lock.lock(); outcome = result; lock.unlock()
            finished.signal()
        }.start()
    }

    private var isWriterDone: Bool { lock.lock(); defer { lock.unlock() }; return writerDone }

    private func follow() throws(DigestError) -> (digest: String, bytes: Int64) {
        var fd: Int32 = -1
        while fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                guard errno == ENOENT else { throw DigestError(path: path, reason: String(cString: strerror(errno))) }
                if isWriterDone { return (SHA256.hex(of: []), 0) }
                usleep(2_000)
            }
        }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        let hasher = SHA256()
        var position: Int64 = 0
        while true {
            // Read the done flag before reading: once it is set, a short read means the real end.
            let last = isWriterDone
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw DigestError(path: path, reason: String(cString: strerror(errno)))
            }
            if n > 0 {
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                position += Int64(n)
            } else if last {
                return (hasher.finalize(), position)
            } else {
                usleep(2_000)
            }
        }
    }

    /// Waits for the hasher to reach the end of the finished file; returns the digest and the bytes hashed.
    public func finish() throws(DigestError) -> (digest: String, bytes: Int64) {
        lock.lock(); writerDone = true; lock.unlock()
        finished.wait()
        finished.signal()
        lock.lock(); defer { lock.unlock() }
        return try outcome!.get()
    }
}
