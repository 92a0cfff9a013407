import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock on a lock file of its own (`flock(2)`), held from ``tryLock(_:record:)``
/// until ``release()``: the lock file is removed while still locked, then closed.
///
/// Never a lock on a database file: SQLite locks those with POSIX record locks, which any `close` of that
/// file in the process drops. `flock` belongs to the open file description, so other descriptors of the same
/// file (even in this process) contend with it, and the kernel drops it when the holder dies (a `SIGKILL`
/// leaves the file, never the lock). The descriptor is opened `O_CLOEXEC`: a child process never inherits it.
///
/// Thread-safety: ``release()`` once, from any thread; the value is otherwise immutable.
public final class LockFile: Sendable {
    /// The lock file's path.
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes the lock if nobody holds it, and writes `record` (who holds it) into the file (when the file,
    /// left by another user, can only be read, the lock is taken without it).
    /// - Returns: the held lock, or nil when another open file holds it.
    /// - Throws: `Errno` when the file cannot be created or locked for another reason.
    ///
    /// The corresponding C functions are `open`, `flock(LOCK_EX | LOCK_NB)`. A holder removes the file on release,
    /// so a lock taken on a file that is no longer at `path` (same device and inode) is dropped and taken again.
    public static func tryLock(_ path: String, record: String) throws(Errno) -> LockFile? {
        while true {
            var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            // Another user's lock file (a killed run's, in a shared folder): flock needs no write access.
            let readOnly = fd < 0 && errno == EACCES
            if readOnly { fd = open(path, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                close(fd)
                if code == EINTR { continue }
                if code == EWOULDBLOCK { return nil }
                throw Errno(rawValue: code)
            }
            var opened = stat()
            var named = stat()
            guard fstat(fd, &opened) == 0, stat(path, &named) == 0,
                  opened.st_dev == named.st_dev, opened.st_ino == named.st_ino else {
                close(fd)  // the previous holder removed it between our open and flock: a fresh file
                continue
            }
            let bytes = Array(record.utf8)
            if !readOnly, ftruncate(fd, 0) != 0 || bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) != bytes.count {
                let code = errno
                unlink(path)
                close(fd)
                throw Errno(rawValue: code)
            }
            return LockFile(path: path, descriptor: fd)
        }
    }

    /// What the holder wrote into the lock file at `path` (nil if there is none, or it cannot be read).
    public static func record(at path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    /// Removes the lock file, then unlocks it (by closing). Call once.
    public func release() {
        unlink(path)
        close(descriptor)
    }
}
