import BackupModel
import Foundation

/// `latest` wherever an archive is expected: `DIR/latest`, `webdav+https://host/path/latest`,
/// `s3://bucket/prefix/latest` name the newest archive in that folder, by the UTC time in the archive
/// names (``ArchiveName``; then the same-second number, then the name), optionally only of one kind or host.
/// Encrypted archives (`.age`) are picked only when asked (`encrypted`: a reader given a key); files whose
/// names are not archive names never are.
public struct LatestArchive: Sendable {
    /// Only archives of this kind (`full`, `partial`, `cleanup`, `diff`).
    public var kind: String?
    /// Only archives of this host (the host in the names).
    public var host: String?
    /// Whether encrypted archives count (the reader holds an identity or a passphrase).
    public var encrypted: Bool

    public init(kind: String? = nil, host: String? = nil, encrypted: Bool = false) {
        self.kind = kind
        self.host = host
        self.encrypted = encrypted
    }

    /// Whether `text` (a path or URL) ends in the component `latest`.
    public static func isLatest(_ text: String) -> Bool {
        text == "latest" || text.hasSuffix("/latest")
    }

    /// The newest of `names` that is an archive name of the kind and host asked for.
    public func newest(of names: [String]) -> String? {
        names.compactMap { name in ArchiveName(parsing: name).map { (name: name, parsed: $0) } }
            .filter { (encrypted || !$0.parsed.encrypted) && (kind == nil || $0.parsed.kind == kind) && (host == nil || $0.parsed.host == host) }
            .max { ($0.parsed.time, $0.parsed.sequence, $0.name) < ($1.parsed.time, $1.parsed.sequence, $1.name) }?.name
    }

    /// `text` itself, or, when it ends in `latest`, the path or URL of the newest archive in its folder.
    /// - Throws: ``BackupError`` `noInput` when the folder holds no such archive, `usage` when `--kind` or
    ///   `--host` is given without `latest`; a remote's failures as ``Transfers/list(_:environment:)``.
    public func resolve(_ text: String, transfers: Transfers,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard Self.isLatest(text) else {
            if kind != nil || host != nil {
                throw BackupError(.usage, "--kind and --host choose among archives only with latest (e.g. s3://bucket/prefix/latest); \(text) names one archive")
            }
            return text
        }
        let folder = String(text.dropLast("latest".count)) // keeps its trailing slash, or is empty: here
        let names: [String]
        if RemoteLocation.isRemote(text) {
            names = try transfers.list(folder, environment: environment).archives.map(\.name)
        } else {
            let directory = folder.isEmpty ? "." : folder
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw BackupError(.noInput, "cannot read the folder \(directory) to find the latest archive")
            }
        }
        guard let newest = newest(of: names) else {
            let filters = [kind.map { "kind \($0)" }, host.map { "host \($0)" }].compactMap { $0 }
            throw BackupError(.noInput, "no archive" + (filters.isEmpty ? "" : " of \(filters.joined(separator: ", "))")
                              + " in \(folder.isEmpty ? "." : folder)")
        }
        return folder + newest
    }
}
