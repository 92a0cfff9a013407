import Foundation
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// Files and folders that must not outlive the operation that made them, in one place: each has one
// owner that removes it unless it is committed; a registry lets the CLI's signal handler remove them on
// SIGINT/SIGTERM; their names carry the process id, so that a later run removes what a killed one left.

/// Everything temporary that exists right now; the CLI's signal handler removes it all before it exits.
public final class TemporaryFiles: Sendable {
    public static let shared = TemporaryFiles()
    /// What exists now, and whether ``removeAll()`` has run (the process is about to exit).
    private let state = Mutex<(paths: Set<String>, closed: Bool)>(([], false))

    /// Registers `path` for removal on a signal. Once ``removeAll()`` has run, a path registered after it
    /// (made by a thread that had not heard of the signal yet) is deleted at once.
    public func register(_ path: String) {
        let closed = state.withLock { state in
            if !state.closed { state.paths.insert(path) }
            return state.closed
        }
        if closed { Self.delete(path) }
    }

    /// Unregisters and deletes `path` (a folder with everything in it), and SQLite's companions of a file.
    public func remove(_ path: String) {
        _ = state.withLock { $0.paths.remove(path) }
        Self.delete(path)
    }

    /// Forgets `path` without deleting it (it was published under its final name).
    func forget(_ path: String) {
        _ = state.withLock { $0.paths.remove(path) }
    }

    /// Deletes everything registered, and from then on whatever is registered (from a signal handler's
    /// queue, just before the process exits).
    public func removeAll() {
        state.withLock { state in
            for path in state.paths { Self.delete(path) }
            state.paths.removeAll()
            state.closed = true
        }
    }

    private static func delete(_ path: String) {
        if FileSystem.isDirectory(path) {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        FileSystem.remove(path)
        for suffix in ["-journal", "-wal", "-shm"] { FileSystem.remove(path + suffix) }
    }

    /// A new private (0700) folder in `directory`, named `PREFIX-PID-XXXXXX`, registered; its owner
    /// (``TemporaryFolder``) removes it.
    fileprivate static func makeFolder(in directory: String, prefix: String) throws -> String {
        var template = Array((directory as NSString).appendingPathComponent("\(prefix)-\(getpid())-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else {
            throw BackupError.posix(errno, "creating a private temporary folder", path: directory, creating: true)
        }
        let path = String(cString: created)
        shared.register(path)
        return path
    }

    /// Whether process `pid` is alive (it may belong to another user).
    static func isAlive(_ pid: Int32) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }

    /// The process id stamped in a name this tool gives its temporary files and folders, when the name is
    /// one of them: `.NAME.tmp-PID-HEX`, `.NAME.snapshot-PID-HEX`, `.NAME.download-PID-HEX` (with SQLite's `-journal`, `-wal`,
    /// `-shm` companions) and `ptc-backup-verify-PID-XXXXXX`.
    static func owner(of name: String) -> Int32? {
        if name.hasPrefix("ptc-backup-verify-") {
            return name.dropFirst("ptc-backup-verify-".count).split(separator: "-").first.flatMap { Int32($0) }
        }
        guard name.hasPrefix(".") else { return nil }
        var parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, ["journal", "wal", "shm"].contains(last) { parts.removeLast() }
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), UInt32(parts[parts.count - 1], radix: 16) != nil,
              [".tmp", ".snapshot", ".download"].contains(where: parts[parts.count - 3].hasSuffix) else { return nil }
        return pid
    }

    /// This tool's temporaries in `directory` (``owner(of:)``) whose process is gone and that were last
    /// modified before `cutoff`: what `prune` removes. Folders count with everything in them.
    static func stale(in directory: String, before cutoff: Date) -> [(name: String, path: String, bytes: Int64, modified: Date)] {
        guard let names = try? FileSystem.contents(of: directory, doing: "looking for leftovers") else { return [] }
        return names.sorted().compactMap { name in
            guard let pid = owner(of: name), !isAlive(pid) else { return nil }
            let path = (directory as NSString).appendingPathComponent(name)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let modified = attributes[.modificationDate] as? Date, modified < cutoff else { return nil }
            var bytes = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            if attributes[.type] as? FileAttributeType == .typeDirectory {
                bytes = 0
                let files = FileManager.default.enumerator(atPath: path)
                while let file = files?.nextObject() as? String {
                    bytes += FileSystem.size(of: (path as NSString).appendingPathComponent(file)) ?? 0
                }
            }
            return (name, path, bytes, modified)
        }
    }

    /// Removes what runs of this tool that are gone (killed, crashed) left in `directory`: temporary
    /// archives and snapshots beside their final names, and extraction folders. Returns the names removed.
    @discardableResult
    static func removeStale(in directory: String) -> [String] {
        guard let names = try? FileSystem.contents(of: directory, doing: "looking for leftovers") else { return [] }
        var removed: [String] = []
        for name in names {
            guard let pid = owner(of: name), !isAlive(pid) else { continue }
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            removed.append(name)
        }
        return removed
    }
}

/// A new file under a hidden name beside the name it is meant for, open for reading and writing: closed
/// and deleted when it goes away, unless ``commit(to:)`` published it first. One owner; not `Sendable`
/// (a writer on another thread gets its ``descriptor`` for the length of that work).
final class TemporaryFile {
    let path: String
    let descriptor: FileDescriptor
    private var committed = false

    /// Creates `.NAME.SUFFIX-PID-HEX` beside `final` (mode 0600, never an existing file).
    /// - Throws: ``BackupError`` `cantCreate`, `ioError`.
    init(beside final: String, suffix: String, doing: String) throws {
        let path = FileSystem.temporarySibling(of: final, suffix: suffix)
        descriptor = try FileSystem.createExclusive(path, doing: doing)
        self.path = path
        TemporaryFiles.shared.register(path)
    }

    deinit {
        try? descriptor.close()
        if !committed { TemporaryFiles.shared.remove(path) }
    }

    /// Makes what was written durable (`fsync`).
    func sync(doing: String) throws {
        try FileSystem.sync(descriptor, path: path, doing: doing)
    }

    /// Empties the file, to write it again from the start.
    func truncate(doing: String) throws {
        do {
            try descriptor.resize(to: 0)
        } catch {
            throw BackupError.posix(error, doing, path: path, creating: true)
        }
    }

    /// Publishes the file as `final` (never replacing a file) and gives up ownership of it.
    func commit(as final: String) throws {
        try FileSystem.publish(path, as: final)
        committed = true
        TemporaryFiles.shared.forget(path)
    }

    /// Publishes the file under `destination`'s first free name (never replacing a file) and gives up
    /// ownership of it. Returns the name used.
    func commit(to destination: ArchiveDestination) throws -> String {
        let published = try destination.publish(path)
        committed = true
        TemporaryFiles.shared.forget(path)
        return published
    }
}

/// A new private (0700) folder, `PREFIX-PID-XXXXXX`, removed with everything in it when its owner lets
/// it go (and by the signal handler, and by the next run if this process is killed).
public final class TemporaryFolder {
    public let path: String

    /// - Throws: ``BackupError`` when the folder cannot be created in `directory`.
    public init(in directory: String, prefix: String) throws {
        path = try TemporaryFiles.makeFolder(in: directory, prefix: prefix)
    }

    deinit { TemporaryFiles.shared.remove(path) }

    /// `name` inside the folder.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}
