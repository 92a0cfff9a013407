import BackupDigest
import BackupHTTP
import BackupModel
import BackupStore
import Foundation
import Synchronization

/// Moving archives between this machine and a remote. Remote calls that fail in passing (refused or
/// reset connections, timeouts, 5xx) are retried with backoff (``RetryingStore``); `onRetry` hears of each.
public struct Transfers: Sendable {
    public var options: RemoteOptions
    /// Hears ``ProgressEvent/Phase/upload`` and ``ProgressEvent/Phase/download`` bytes of archives moved
    /// over HTTP (a folder remote's copy reports nothing).
    public var progress: ProgressHandler?
    /// What opens encrypted archives, for the check after a download (its manifest; else its header only).
    public var keys = ArchiveKeys.none
    /// Hears warnings about what is uploaded (an unencrypted archive holding secret-looking variables).
    public var onWarning: @Sendable (String) -> Void = { _ in }

    public init(options: RemoteOptions = RemoteOptions(), onRetry: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.options.onRetry = onRetry
    }

    private func open(_ remote: String, _ environment: [String: String]) throws -> RemoteLocation {
        var location = try RemoteLocation(parsing: remote, options: options, environment: environment)
        location.store = RetryingStore(location.store, onRetry: options.onRetry)
        return location
    }

    /// Uploads the archive at `path` to `remote` under its own name, after checking it is an archive.
    /// Returns the object's name and size on the remote.
    public func push(_ path: String, to remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ObjectInfo {
        try upload(path, to: remote, environment: environment).object
    }

    /// What ``upload(_:to:overwrite:environment:)`` did.
    public struct Uploaded: Sendable {
        /// The object on the remote.
        public var object: ObjectInfo
        /// An archive of that name with the same SHA-256 was there already: nothing was sent.
        public var alreadyThere: Bool
    }

    /// Uploads the archive at `path` to `remote` under its own name, after checking it is an archive.
    /// Never silently replaces: when an object of that name is there, the same SHA-256 (from the store's
    /// metadata, else by downloading it) makes this a no-op (``Uploaded/alreadyThere``), a different one is
    /// `cantCreate` (73) unless `overwrite`. WebDAV and folders also refuse at the final rename if one appears
    /// meanwhile (`MOVE` with `Overwrite: F`).
    public func upload(_ path: String, to remote: String, overwrite: Bool = false,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Uploaded {
        let location = try open(remote, environment)
        if let warning = Self.secretsWarning(try ArchiveContents.check(path), path: path) { onWarning(warning) }
        let name = location.objectName ?? (path as NSString).lastPathComponent
        let size = FileSystem.size(of: path) ?? 0
        if !overwrite, let existing = try Self.mapped({ try location.store.stat(name) }) {
            let local = try Self.sha256(of: path)
            let remoteDigest: String
            if let stored = existing.sha256 {
                remoteDigest = stored
            } else if existing.size != size {
                remoteDigest = "of another size (\(existing.size) bytes, not \(size))"
            } else {
                remoteDigest = try withDownload(ArchiveName.hasArchiveSuffix(remote) ? remote : Self.join(remote, name),
                                                environment: environment) { try Self.sha256(of: $0) }
            }
            guard remoteDigest == local else {
                throw BackupError(.cantCreate, "\(location.store) already holds a different \(name) (SHA-256 \(remoteDigest), this one \(local)); "
                                  + "pass --overwrite to replace it")
            }
            return Uploaded(object: existing, alreadyThere: true)
        }
        try StoreInterruption.interruptible {
            try TransferProgress.observe(Self.tally(.upload, total: size, progress)) {
                try Self.mapped { try location.store.put(file: path, as: name, replacing: overwrite) }
            }
        }
        guard let info = try Self.mapped({ try location.store.stat(name) }), info.size == size else {
            throw BackupError(.unavailable, "\(name) on \(location.store) does not have the \(size) bytes just uploaded")
        }
        return Uploaded(object: info, alreadyThere: false)
    }

    /// An observer adding up the bytes each transfer moved one way (`upload`: sent, `download`: received)
    /// and reporting the sum as `phase`, at most `total` (retried requests count again); nil without `progress`.
    static func tally(_ phase: ProgressEvent.Phase, total: Int64?, _ progress: ProgressHandler?) -> TransferProgress.Observer? {
        guard let progress else { return nil }
        progress(ProgressEvent(phase: phase, done: 0, total: total))
        let moved = Mutex<[Int: Int64]>([:])
        return { transfer, sent, received in
            let sum = moved.withLock { bytes in
                bytes[transfer] = phase == .upload ? sent : received
                return bytes.values.reduce(0, +)
            }
            progress(ProgressEvent(phase: phase, done: total.map { min($0, sum) } ?? sum, total: total))
        }
    }

    /// `folder` (a remote URL) with `name` appended.
    static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    static func sha256(of path: String) throws -> String {
        let hasher = SHA256()
        try FileSystem.readChunks(path, doing: "hashing \(path)") { hasher.update($0) }
        return hasher.finalize()
    }

    /// Downloads the archive `remote` names into `output` (a folder, or a file name), under a temporary
    /// name until it is complete and reads as an archive. Returns the local path.
    public func pull(_ remote: String, output: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try download(remote, output: output, environment: environment).path
    }

    /// What ``download(_:output:environment:)`` did.
    public struct Downloaded: Sendable {
        public var path: String
        /// The SHA-256 stored with the object (S3 metadata) was checked; false: the remote stores none
        /// (WebDAV, or an object another tool uploaded), so nothing was checked ("not checked: no checksum stored").
        public var checksumChecked: Bool
    }

    /// The warning for an archive leaving in the clear with the values of secret-looking environment
    /// variables (the manifest counts them at export; nil for encrypted or redacted archives).
    static func secretsWarning(_ manifest: Manifest?, path: String) -> String? {
        guard let manifest, manifest.redactedEnvironment == nil, let count = manifest.secretEnvironmentVariables, count > 0 else { return nil }
        return "\((path as NSString).lastPathComponent) is not encrypted and holds \(count) environment variable\(count == 1 ? "" : "s") with secret-looking names (*KEY*, *TOKEN*, ...); consider --encrypt-to or --redact-env"
    }

    /// ``pull(_:output:environment:)``, also saying whether the download's SHA-256 could be checked.
    /// A mismatch is `dataError` (65) after one fresh download.
    public func download(_ remote: String, output: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Downloaded {
        let location = try open(remote, environment)
        guard let name = location.objectName else {
            throw BackupError(.usage, "\(remote) names a folder; give the archive's URL, ending in .tar.zst")
        }
        let destination: String
        if let output, !output.isEmpty {
            destination = (output.hasSuffix("/") || FileSystem.isDirectory(output)) ? (output as NSString).appendingPathComponent(name) : output
        } else {
            destination = name
        }
        if FileSystem.exists(destination) { throw BackupError(.cantCreate, "cannot write \(destination): a file of that name already exists") }
        let folder = (destination as NSString).deletingLastPathComponent
        // A folder named as one (`restore/`) is created once the archive is known to be there, as export does.
        let createsFolder = output?.hasSuffix("/") == true && !FileSystem.exists(folder)
        guard createsFolder || FileSystem.isDirectory(folder.isEmpty ? "." : folder) else {
            throw BackupError(.cantCreate, "cannot write \(destination): the folder \(folder) does not exist")
        }
        let stored = try Self.mapped { try location.store.stat(name) }
        guard stored != nil else { throw BackupError(.noInput, "\(name) is not on \(location.store)") }
        if createsFolder { try FileSystem.makeFolder(folder, doing: "creating the download folder") }
        let download = try TemporaryFile(beside: destination, suffix: "download", doing: "creating the download")
        try StoreInterruption.interruptible {
            try TransferProgress.observe(Self.tally(.download, total: stored?.size, progress)) {
                try Self.mapped { try location.store.get(name, to: download.path) }
            }
        }
        try ArchiveContents.check(download.path, keys: keys)
        // Private like an export (a retried download may have been created anew under the umask).
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: download.path)
        try download.commit(as: destination)
        return Downloaded(path: destination, checksumChecked: stored?.sha256 != nil)
    }

    /// Downloads the archive `remote` names into a new private folder under `temporaryDirectory`, runs
    /// `body` on the local copy, and removes the folder whatever happens.
    public func withDownload<T>(_ remote: String, temporaryDirectory: String = FileManager.default.temporaryDirectory.path,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                _ body: (String) throws -> T) throws -> T {
        var verifier = Verifier()
        verifier.temporaryDirectory = temporaryDirectory
        let folder = try verifier.makeWorkspace()
        defer { withExtendedLifetime(folder) {} }
        let path = try pull(remote, output: folder.path + "/", environment: environment)
        return try body(path)
    }

    /// Removes the archive `remote` names (the building block of retention). Only archive names
    /// (`*.tar.zst`) are accepted; a missing one is an error, so a typo never passes for success.
    /// Returns what was removed.
    public func delete(_ remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ObjectInfo {
        let location = try open(remote, environment)
        guard let name = location.objectName else {
            throw BackupError(.usage, "\(remote) names a folder; give the archive's URL, ending in .tar.zst")
        }
        guard let info = try Self.mapped({ try location.store.stat(name) }) else {
            throw BackupError(.noInput, "\(name) is not on \(location.store)")
        }
        try Self.mapped { try location.store.delete(name) }
        return info
    }

    /// The archives in a remote folder: name, size, time; kind from the name.
    public func list(_ remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ListReport {
        let location = try open(remote, environment)
        let objects = try Self.mapped { try location.store.list(prefix: "") }.filter { ArchiveName.hasArchiveSuffix($0.name) }
        let items = objects.map { object in
            ListReport.Item(name: object.name, bytes: object.size,
                            createdAt: object.modified.map { Timestamp.iso8601(seconds: Int64($0.timeIntervalSince1970)) },
                            kind: ArchiveName(parsing: object.name).flatMap { Manifest.Kind(rawValue: $0.kind) },
                            sessionCount: nil, host: nil, appVersion: nil, problem: nil)
        }.sorted(by: Lister.newestFirst)
        return ListReport(location: "\(location.store)", archives: items)
    }

    /// For SIGINT/SIGTERM: stops every transfer and makes the stores clean up (abort a multipart upload,
    /// delete a temporary object). Returns whether an upload or download is running, which now ends with
    /// an error once it has cleaned up; the caller should let it, then exit.
    public static func interrupt() -> Bool { StoreInterruption.request() }

    /// Whether ``interrupt()`` was called.
    public static var isInterrupted: Bool { StoreInterruption.isRequested }

    /// Runs a store call, turning its ``StoreError`` into a ``BackupError`` with the sysexits code.
    static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            if error.isChecksumMismatch { throw BackupError(.dataError, error.message) }
            throw BackupError(error)
        }
    }
}

