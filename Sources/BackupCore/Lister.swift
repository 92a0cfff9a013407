import BackupModel
import Foundation

/// Lists the archives in a folder, newest first, from their manifests (only the first entry of each
/// is decompressed, so listing is fast whatever the archives' size).
public struct Lister: Sendable {
    /// What opens encrypted archives: with keys their manifests are read too; without, their names say
    /// what they are.
    public var keys: ArchiveKeys

    public init(keys: ArchiveKeys = .none) { self.keys = keys }

    /// - Throws: ``BackupError`` `noInput` when the folder does not exist.
    public func list(_ directory: String) throws(BackupError) -> ListReport {
        try BackupError.atBoundary("listing the folder") {
            guard FileSystem.isDirectory(directory) else {
                throw BackupError(.noInput, "folder not found: \(directory) does not exist or is not a folder")
            }
            let names = try FileSystem.contents(of: directory, doing: "reading the folder")
            var items: [ListReport.Item] = []
            for name in names where ArchiveName.hasArchiveSuffix(name) && !name.hasPrefix(".") {
                let path = (directory as NSString).appendingPathComponent(name)
                let bytes = FileSystem.size(of: path) ?? 0
                // An encrypted archive's manifest needs a key: what its name says.
                if let parsed = ArchiveName(parsing: name), parsed.encrypted, keys.isEmpty {
                    items.append(.init(name: name, bytes: bytes, createdAt: Timestamp.iso8601(seconds: parsed.seconds),
                                       kind: Manifest.Kind(rawValue: parsed.kind), sessionCount: nil, host: parsed.host,
                                       appVersion: nil, problem: nil))
                    continue
                }
                do {
                    let manifest = try ArchiveContents.manifest(of: path, keys: keys)
                    items.append(.init(name: name, bytes: bytes, createdAt: manifest.createdAt, kind: manifest.kind,
                                       sessionCount: manifest.sessions.count, host: manifest.source.host,
                                       appVersion: manifest.source.appVersion, problem: nil))
                } catch let error as BackupError {
                    items.append(.init(name: name, bytes: bytes, createdAt: nil, kind: nil, sessionCount: nil, host: nil,
                                       appVersion: nil, problem: error.message))
                }
            }
            items.sort(by: Self.newestFirst)
            return ListReport(location: directory, archives: items)
        }
    }

    /// Newest first: by time, then by the number of archives of the same second (`-3` before `-2` before
    /// the plain name), then by name.
    static func newestFirst(_ a: ListReport.Item, _ b: ListReport.Item) -> Bool {
        func sequence(_ item: ListReport.Item) -> Int { ArchiveName(parsing: item.name)?.sequence ?? 1 }
        return (a.createdAt ?? "", sequence(a), a.name) > (b.createdAt ?? "", sequence(b), b.name)
    }
}
