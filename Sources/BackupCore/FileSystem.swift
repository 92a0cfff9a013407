import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The few POSIX file operations the operations need, each failing with a ``BackupError``
/// that names the path.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func size(of path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// Bytes available to this user in the file system holding `path` (`statvfs`), or nil when unknown.
    static func freeBytes(at path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Whether process `pid` is alive (it may belong to another user).
    static func isAlive(_ pid: Int32) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }

    /// The process id stamped in a name this tool gives its temporary files and folders, when the name is
    /// one of them: `.NAME.tmp-PID-HEX`, `.NAME.snapshot-PID-HEX` (with SQLite's `-journal`, `-wal`,
    /// `-shm` companions) and `ptc-backup-verify-PID-XXXXXX`.
    static func temporaryOwner(of name: String) -> Int32? {
        if name.hasPrefix("ptc-backup-verify-") {
            return name.dropFirst("ptc-backup-verify-".count).split(separator: "-").first.flatMap { Int32($0) }
        }
        guard name.hasPrefix(".") else { return nil }
        var parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, ["journal", "wal", "shm"].contains(last) { parts.removeLast() }
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), UInt32(parts[parts.count - 1], radix: 16) != nil,
              [".tmp", ".snapshot"].contains(where: parts[parts.count - 3].hasSuffix) else { return nil }
        return pid
    }

    /// Removes what runs of this tool that are gone (killed, crashed) left in `directory`: temporary
    /// archives and snapshots beside their final names, and extraction folders. Returns the names removed.
    @discardableResult
    static func removeStaleLeftovers(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names {
            guard let pid = temporaryOwner(of: name), !isAlive(pid) else { continue }
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            removed.append(name)
        }
        return removed
    }

    /// Creates a new file with mode 0600 that did not exist before (`O_CREAT | O_EXCL`).
    static func createExclusive(_ path: String, doing: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BackupError.posix(errno, doing, path: path, creating: true) }
        return fd
    }

    static func fsync(_ fd: Int32, path: String, doing: String) throws {
        guard Glibc.fsync(fd) == 0 else { throw BackupError.posix(errno, doing, path: path, creating: true) }
    }

    /// Syncs a directory, so that a rename or link in it survives a crash.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.fsync(fd)
        close(fd)
    }

    /// Publishes `temporary` as `final` without ever replacing an existing `final`:
    /// a hard link (which fails when `final` exists), then the temporary name is removed.
    /// Falls back to `rename` on file systems without hard links.
    static func publish(_ temporary: String, as final: String) throws {
        _ = try publish(temporary, asFirstFreeOf: [final])
    }

    /// Publishes `temporary` under the first of `candidates` that nobody holds at the moment of the link,
    /// never replacing a file: when another process takes a name between a check and the link, the next
    /// candidate is tried. Returns the name used.
    /// - Throws: ``BackupError`` `cantCreate` when every candidate is taken, or the link fails otherwise.
    static func publish(_ temporary: String, asFirstFreeOf candidates: [String]) throws -> String {
        precondition(!candidates.isEmpty, "publish needs a name")
        for final in candidates {
            if link(temporary, final) == 0 {
                unlink(temporary)
            } else if errno == EEXIST {
                continue
            } else if errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EXDEV {
                // No hard links here: rename, which would replace, so only onto a name that is free now.
                guard !exists(final) else { continue }
                guard rename(temporary, final) == 0 else {
                    throw BackupError.posix(errno, "publishing the archive", path: final, creating: true)
                }
            } else {
                throw BackupError.posix(errno, "publishing the archive", path: final, creating: true)
            }
            let folder = (final as NSString).deletingLastPathComponent
            syncDirectory(folder.isEmpty ? "." : folder)
            return final
        }
        throw allTaken(candidates)
    }

    /// `cantCreate`: the one name, or every numbered one, exists.
    static func allTaken(_ names: [String]) -> BackupError {
        guard names.count > 1, let last = names.last else {
            return BackupError(.cantCreate, "cannot write \(names.first ?? ""): a file of that name already exists")
        }
        return BackupError(.cantCreate, "cannot write \(names[0]): it and every numbered name up to \((last as NSString).lastPathComponent) exist")
    }

    /// Reads a file in chunks of `chunkSize`, handing each to `body`.
    static func readChunks(_ path: String, chunkSize: Int = 1 << 20, doing: String,
                           _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError.posix(errno, doing, path: path, creating: false) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw BackupError.posix(errno, doing, path: path, creating: false)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// A unique hidden name beside `final`, e.g. `.name.tmp-1234-ab12cd`.
    static func temporarySibling(of final: String, suffix: String) -> String {
        let dir = (final as NSString).deletingLastPathComponent
        let base = (final as NSString).lastPathComponent
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let name = ".\(base).\(suffix)-\(getpid())-\(random)"
        return dir.isEmpty ? name : (dir as NSString).appendingPathComponent(name)
    }

    /// The process's peak resident set size (VmHWM), for debug logs.
    static func peakResidentKiB() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    static func processorCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let full = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let short = full.split(separator: ".").first.map(String.init) ?? full
        let cleaned = String(short.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        return cleaned.isEmpty ? "localhost" : cleaned
    }
}

/// Files and folders that must not outlive the process: temporary archives, snapshots, extraction
/// folders. The CLI's signal handler removes what is registered here before it exits.
public final class TemporaryFiles: @unchecked Sendable {
    public static let shared = TemporaryFiles()
    private let lock = NSLock()
    private var paths: Set<String> = []

    public func register(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        paths.insert(path)
    }

    /// Unregisters and deletes `path` (a folder with everything in it), and SQLite's companions of a file.
    public func remove(_ path: String) {
        lock.lock()
        paths.remove(path)
        lock.unlock()
        Self.delete(path)
    }

    /// Deletes everything registered (from a signal handler's queue).
    public func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for path in paths { Self.delete(path) }
        paths.removeAll()
    }

    private static func delete(_ path: String) {
        if FileSystem.isDirectory(path) {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        unlink(path)
        for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }
}
