import BackupSystem
import Foundation
import SystemPackage

/// A folder on this machine. `put` copies to a hidden temporary name, syncs, then renames. Every failure
/// is a ``StoreError`` classified from the system's error (``StoreError/file(_:doing:path:creating:)``).
public struct LocalStore: RemoteStore {
    public let root: String

    public init(root: String) { self.root = root }

    public var description: String { root }

    private func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    public func put(file source: String, as name: String, replacing: Bool) throws {
        try Self.check(name)
        let doing = "storing \(source) as \(name) in \(root)"
        do {
            try FileCalls.makeDirectories(root)
        } catch {
            throw StoreError.file(error, doing: "creating the folder \(root)", path: root, creating: true)
        }
        let temporary = path(TemporaryName.make(for: name))
        do {
            try Self.copy(source, to: temporary, doing: doing)
            if !replacing, FileManager.default.fileExists(atPath: path(name)) {
                throw StoreError(.cantCreate, doing: doing, location: path(name), reason: "\(name) is already there")
            }
            do {
                try FileCalls.move(temporary, to: path(name))
            } catch {
                throw StoreError.file(error, doing: doing, path: path(name), creating: true)
            }
        } catch {
            try? FileCalls.remove(temporary)
            throw error
        }
    }

    public func get(_ name: String, to destination: String) throws {
        try Self.check(name)
        try Self.copy(path(name), to: destination, doing: "copying \(name) from \(root) to \(destination)")
    }

    public func stat(_ name: String) throws -> ObjectInfo? {
        try Self.check(name)
        let stat: Stat
        do {
            stat = try Stat(FilePath(path(name)))
        } catch .noSuchFileOrDirectory, .notDirectory {
            return nil
        } catch {
            throw StoreError.file(error, doing: "looking up \(name) in \(root)", path: path(name), creating: false)
        }
        let modified = stat.st_mtim
        return ObjectInfo(name: name, size: stat.size,
                          modified: Date(timeIntervalSince1970: Double(modified.tv_sec) + Double(modified.tv_nsec) / 1e9))
    }

    /// The folder's entry names; none when the folder is not there (yet).
    private func entryNames() throws -> [String] {
        do {
            return try FileCalls.names(in: root)
        } catch .noSuchFileOrDirectory {
            return []
        } catch {
            throw StoreError.file(error, doing: "listing \(root)", path: root, creating: false)
        }
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        let names = try entryNames()
        return try names.filter { $0.hasPrefix(prefix) && !$0.hasPrefix(".") }.sorted().compactMap { try stat($0) }
    }

    public func delete(_ name: String) throws {
        try Self.check(name)
        do {
            try FileCalls.remove(path(name))
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw StoreError.file(error, doing: "deleting \(name) from \(root)", path: path(name), creating: false)
        }
    }

    public func leftovers() throws -> [Leftover] {
        let names = try entryNames()
        return names.filter(TemporaryName.isTemporary).sorted().compactMap { name in
            // Gone meanwhile (its upload finished): not a leftover.
            guard let stat = try? Stat(FilePath(path(name))) else { return nil }
            let modified = stat.st_mtim
            return Leftover(name: name, kind: .temporary, bytes: stat.size,
                            since: Date(timeIntervalSince1970: Double(modified.tv_sec) + Double(modified.tv_nsec) / 1e9))
        }
    }

    public func remove(_ leftover: Leftover) throws {
        guard leftover.kind == .temporary, TemporaryName.isTemporary(leftover.name), !leftover.name.contains("/") else { return }
        do {
            try FileCalls.remove(path(leftover.name))
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw StoreError.file(error, doing: "removing \(leftover.name) from \(root)", path: path(leftover.name), creating: false)
        }
    }

    /// Copies `source` to `destination` (created or truncated) and syncs it.
    /// - Throws: ``StoreError``: reading `source` as a read, anything on `destination` as a creation.
    static func copy(_ source: String, to destination: String, doing: String) throws(StoreError) {
        let input: FileDescriptor
        do {
            input = try FileDescriptor.open(FilePath(source), .readOnly, options: .closeOnExec)
        } catch {
            throw StoreError.file(error, doing: doing, path: source, creating: false)
        }
        defer { try? input.close() }
        let output: FileDescriptor
        do {
            output = try FileDescriptor.open(FilePath(destination), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                             permissions: [.ownerReadWrite])  // archives are private
        } catch {
            throw StoreError.file(error, doing: doing, path: destination, creating: true)
        }
        var closed = false
        defer { if !closed { try? output.close() } }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n: Int
            do {
                n = try input.read(into: buffer)
            } catch {
                throw StoreError.file(error, doing: doing, path: source, creating: false)
            }
            if n == 0 { break }
            do {
                try output.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } catch {
                throw StoreError.file(error, doing: doing, path: destination, creating: true)
            }
        }
        do {
            try FileCalls.sync(output)
            closed = true
            try output.close()
        } catch {
            throw StoreError.file(error, doing: doing, path: destination, creating: true)
        }
    }
}
