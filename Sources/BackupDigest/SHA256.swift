import COpenSSL
import Foundation
import Synchronization
import SystemPackage

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

/// A file could not be read for hashing: which, and the system's reason.
public struct DigestError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    /// The system's error, when a call failed (not when the file was merely shorter than asked).
    public let errno: Errno?

    public init(path: String, reason: String, errno: Errno? = nil) {
        self.path = path
        self.reason = reason
        self.errno = errno
    }

    init(path: String, _ error: any Error) {
        let errno = error as? Errno
        self.init(path: path, reason: errno.map { "\($0)" } ?? "\(error)", errno: errno)
    }

    public var description: String { "cannot read \(path) to hash it: \(reason)" }
}

extension SHA256 {
    /// Hashes `length` bytes of `file` from `offset`, or fewer when it ends first. Returns the bytes hashed.
    fileprivate func update(from file: FileDescriptor, path: String, offset: Int64, length: Int64,
                            buffer: UnsafeMutableRawBufferPointer) throws(DigestError) -> Int64 {
        try FileChunks.read(file, path: path, offset: offset, length: length, buffer: buffer) { update($0) }
    }

    /// The SHA-256 of `length` bytes of the file at `path` from `offset` (to its end when `length` is nil),
    /// read 1 MiB at a time.
    /// - Throws: ``DigestError`` when the file cannot be read, or ends before `offset + length`.
    public static func hex(ofFile path: String, offset: Int64 = 0, length: Int64? = nil) throws(DigestError) -> String {
        try FileChunks.reading(path) { file, buffer throws(DigestError) in
            let hasher = SHA256()
            let hashed = try hasher.update(from: file, path: path, offset: offset, length: length ?? Int64.max, buffer: buffer)
            if let length, hashed < length {
                throw DigestError(path: path, reason: "the file ends before byte \(offset + length)")
            }
            return hasher.finalize()
        }
    }
}

/// A result computed on a thread of its own (hashing runs beside the caller's own work, not on a
/// shared pool that might run it later); ``join()`` waits for it.
final class OwnThread<Success: Sendable>: Sendable {
    private let outcome = Mutex<Result<Success, DigestError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws(DigestError) -> Success) {
        Thread { [self] in
            let result = Result { () throws(DigestError) -> Success in try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }.start()
    }

    /// Waits for the thread's result; any number of calls, from any thread.
    func join() -> Result<Success, DigestError> {
        done.wait()
        done.signal() // for the next caller
        return outcome.withLock { $0! }
    }
}

/// Hashes a file while another thread is still writing it (a download), reading behind the writer, so the
/// digest is ready moments after the last byte lands. The writer only appends, and tells of each block
/// with ``wrote(_:)`` (the hasher sleeps until then, it does not poll); call ``finish()`` once the writer
/// has closed the file, whatever happened.
public final class FollowingHasher: Sendable {
    /// What the writer has told the hashing thread.
    private final class Progress: Sendable {
        struct State {
            var written: Int64 = 0
            var writerDone = false
            /// Set while the reader sleeps: the count of bytes written that wakes it.
            var wakeAt: Int64?
        }
        let state = Mutex(State())
        /// Released when the writer reaches ``State/wakeAt`` (or is done), once per sleep.
        let wake = DispatchSemaphore(value: 0)

        /// Waits until `target` bytes are written, or the writer is done.
        func wait(until target: Int64) -> (written: Int64, done: Bool) {
            while true {
                let now = state.withLock { state -> (Int64, Bool)? in
                    if state.writerDone || state.written >= target { return (state.written, state.writerDone) }
                    state.wakeAt = target
                    return nil
                }
                if let now { return now }
                wake.wait()
            }
        }

        func update(_ change: (inout State) -> Void) {
            let waking = state.withLock { state -> Bool in
                change(&state)
                guard let wakeAt = state.wakeAt, state.writerDone || state.written >= wakeAt else { return false }
                state.wakeAt = nil
                return true
            }
            if waking { wake.signal() }
        }
    }

    private let progress = Progress()
    private let hashing: OwnThread<(digest: String, bytes: Int64)>

    public init(path: String) {
        let progress = self.progress
        hashing = OwnThread { () throws(DigestError) -> (digest: String, bytes: Int64) in
            try Self.follow(path, progress)
        }
    }

    /// Tells the hasher that `count` more bytes are in the file.
    public func wrote(_ count: Int) {
        progress.update { $0.written += Int64(count) }
    }

    private static func follow(_ path: String, _ progress: Progress) throws(DigestError) -> (digest: String, bytes: Int64) {
        // The reader wakes for each MiB written (not each block), and when the writer is done.
        let batch: Int64 = 1 << 20
        var (seen, done) = progress.wait(until: 1)
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        } catch Errno.noSuchFileOrDirectory where done {
            return (SHA256.hex(of: []), 0) // the writer never created it
        } catch {
            throw DigestError(path: path, error)
        }
        defer { try? file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        let hasher = SHA256()
        var position: Int64 = 0
        while true {
            // Everything written up to the last word from the writer is in the file: read to its end. Once
            // the writer is done, that end is the real one.
            position += try hasher.update(from: file, path: path, offset: position, length: Int64.max, buffer: buffer)
            if done { return (hasher.finalize(), position) }
            (seen, done) = progress.wait(until: seen + batch)
        }
    }

    /// Waits for the hasher to reach the end of the finished file; returns the digest and the bytes hashed.
    public func finish() throws(DigestError) -> (digest: String, bytes: Int64) {
        progress.update { $0.writerDone = true }
        return try hashing.join().get()
    }
}
