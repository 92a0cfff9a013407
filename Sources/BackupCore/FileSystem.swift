import Foundation
import BackupSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The file system calls of the operations layer, in one place: through swift-system's `FileDescriptor`
/// (EINTR retried, descriptors closed by their owner), every failure a ``BackupError`` that names the path.
/// Temporary files, and what killed runs leave behind, are in TemporaryFiles.swift.
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

    /// Creates a new file with mode 0600 that did not exist before (`O_CREAT | O_EXCL`), open for reading
    /// and writing. The caller closes it.
    static func createExclusive(_ path: String, doing: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                                           permissions: [.ownerReadWrite])
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: true)
        }
    }

    /// Opens an existing file for reading. The caller closes it.
    static func openForReading(_ path: String, doing: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: false)
        }
    }

    /// `fsync(2)` of `descriptor` (the file at `path`), so that what was written survives a crash.
    static func sync(_ descriptor: FileDescriptor, path: String, doing: String) throws {
        do {
            try FileCalls.sync(descriptor)
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: true)
        }
    }

    /// Syncs a directory, so that a rename or link in it survives a crash (best effort).
    static func syncDirectory(_ path: String) {
        guard let folder = try? FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec]) else { return }
        try? folder.closeAfter { try FileCalls.sync(folder) }
    }

    /// The names in the folder at `path` (not `.` and `..`), in no particular order.
    /// - Throws: ``BackupError`` from the errno of `opendir`/`readdir` (missing folder `noInput`,
    ///   permission `noPermission`).
    static func contents(of path: String, doing: String) throws -> [String] {
        do {
            return try FileCalls.names(in: path)
        } catch {
            throw BackupError.posix(error.rawValue, doing, path: path, creating: false)
        }
    }

    /// Creates the folder at `path`, and any missing one above it, private to this user (0700); one that
    /// is there already is fine.
    static func makeFolder(_ path: String, doing: String) throws {
        guard !isDirectory(path) else { return }
        do {
            try FileCalls.makeDirectories(path)
            _ = chmod(path, 0o700)
        } catch {
            throw BackupError.posix(error.rawValue, doing, path: path, creating: true)
        }
    }

    /// Removes the file at `path` when there is one (best effort: what could not be removed stays).
    static func remove(_ path: String) {
        try? FileCalls.remove(path)
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
                remove(temporary)
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
        let file = try openForReading(path, doing: doing)
        defer { try? file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n: Int
            do {
                n = try file.read(into: buffer)
            } catch {
                throw BackupError.posix(error, doing, path: path, creating: false)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Writes all of `bytes` at the end of what was written to `file` (the file at `path`).
    static func write(_ file: FileDescriptor, _ bytes: UnsafeRawBufferPointer, path: String, doing: String) throws {
        do {
            _ = try file.writeAll(bytes)
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: true)
        }
    }

    /// Reads up to `buffer.count` bytes of `file` (the file at `path`) at `offset`; 0 at its end.
    static func read(_ file: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64,
                     path: String, doing: String) throws -> Int {
        do {
            return try file.read(fromAbsoluteOffset: offset, into: buffer)
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: false)
        }
    }

    /// A unique hidden name beside `final`, stamped with this process's id (``TemporaryFiles/owner(of:)``
    /// reads it back): `.NAME.SUFFIX-PID-HEX`.
    static func temporarySibling(of final: String, suffix: String) -> String {
        let dir = (final as NSString).deletingLastPathComponent
        let base = (final as NSString).lastPathComponent
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let name = ".\(base).\(suffix)-\(getpid())-\(random)"
        return dir.isEmpty ? name : (dir as NSString).appendingPathComponent(name)
    }

    /// The process's peak resident set size in KiB, for debug logs.
    static func peakResidentKiB() -> Int? { Platform.peakResidentKiB() }

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
