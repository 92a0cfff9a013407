import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A folder on this machine. `put` copies to a hidden temporary name, syncs, then renames.
public struct LocalStore: RemoteStore {
    public let root: String

    public init(root: String) { self.root = root }

    public var description: String { root }

    private func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    public func put(file source: String, as name: String) throws {
        try Self.check(name)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let temporary = path(".\(name).part-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try Self.copy(source, to: temporary)
            guard rename(temporary, path(name)) == 0 else { throw StoreError(.other, "cannot rename into \(path(name)): \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    public func get(_ name: String, to destination: String) throws {
        try Self.check(name)
        guard FileManager.default.fileExists(atPath: path(name)) else { throw StoreError(.notFound, "\(path(name)) does not exist") }
        try Self.copy(path(name), to: destination)
    }

    public func stat(_ name: String) throws -> ObjectInfo? {
        try Self.check(name)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path(name)) else { return nil }
        return ObjectInfo(name: name, size: (attributes[.size] as? NSNumber)?.int64Value ?? 0, modified: attributes[.modificationDate] as? Date)
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: root)
        return try names.filter { $0.hasPrefix(prefix) && !$0.hasPrefix(".") }.sorted().compactMap { try stat($0) }
    }

    public func delete(_ name: String) throws {
        try Self.check(name)
        if unlink(path(name)) != 0 && errno != ENOENT {
            throw StoreError(.other, "cannot delete \(path(name)): \(String(cString: strerror(errno)))")
        }
    }

    /// Copies `source` to `destination` and syncs it.
    static func copy(_ source: String, to destination: String) throws {
        guard let input = fopen(source, "rb") else { throw StoreError(.notFound, "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { fclose(input) }
        guard let output = fopen(destination, "wb") else { throw StoreError(.other, "cannot create \(destination): \(String(cString: strerror(errno)))") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = fread(&buffer, 1, buffer.count, input)
            if n == 0 { break }
            guard fwrite(buffer, 1, n, output) == n else {
                fclose(output)
                throw StoreError(.other, "cannot write \(destination): \(String(cString: strerror(errno)))")
            }
        }
        let flushed = fflush(output) == 0 && fsync(fileno(output)) == 0
        fclose(output)
        guard flushed else { throw StoreError(.other, "cannot write \(destination): \(String(cString: strerror(errno)))") }
    }
}
