import BackupModel
import BackupStore
import Foundation

/// A remote location given on the command line: `webdav+https://host/path` or `webdav+http://...`,
/// optionally ending in an archive's name. Credentials come from `PTC_WEBDAV_USER`/`PTC_WEBDAV_PASSWORD`,
/// else `~/.netrc`; never from the URL, and they never appear in messages.
public struct RemoteLocation: Sendable {
    public internal(set) var store: any RemoteStore
    /// The object named by the URL's last component, when it names an archive (`*.tar.zst`).
    public let objectName: String?

    /// Whether `text` looks like a remote URL rather than a local path.
    public static func isRemote(_ text: String) -> Bool {
        text.hasPrefix("webdav+http://") || text.hasPrefix("webdav+https://") || text.hasPrefix("s3://")
    }

    /// - Throws: ``BackupError`` `usage` for a scheme this version does not speak or credentials in the URL.
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if text.hasPrefix("s3://") {
            throw BackupError(.usage, "S3 remotes are not supported by this version of ptc-backup yet (\(text)); use webdav+https:// or a local folder")
        }
        guard Self.isRemote(text), var components = URLComponents(string: String(text.dropFirst("webdav+".count))),
              let host = components.host, !host.isEmpty else {
            throw BackupError(.usage, "invalid remote '\(text)': use webdav+https://host/path or webdav+http://host/path")
        }
        guard components.user == nil && components.password == nil else {
            throw BackupError(.usage, "put WebDAV credentials in PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD or ~/.netrc, not in the URL")
        }
        var path = components.path
        var object: String?
        if path.hasSuffix(".tar.zst") {
            object = (path as NSString).lastPathComponent
            path = (path as NSString).deletingLastPathComponent
        }
        components.path = path
        let credentials = Self.credentials(host: host, environment: environment)
        store = WebDAVStore(baseURL: components.string ?? "", user: credentials?.user, password: credentials?.password)
        objectName = object
    }

    static func credentials(host: String, environment: [String: String]) -> (user: String, password: String)? {
        if let user = environment["PTC_WEBDAV_USER"], !user.isEmpty {
            return (user, environment["PTC_WEBDAV_PASSWORD"] ?? "")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let netrc = environment["NETRC"] ?? (home as NSString).appendingPathComponent(".netrc")
        guard let text = try? String(contentsOfFile: netrc, encoding: .utf8) else { return nil }
        return NetRC.parse(text)[host] ?? NetRC.parse(text)["default"]
    }
}

/// `~/.netrc`: `machine HOST login USER password PASS` (and `default`), tokens separated by any whitespace.
enum NetRC {
    static func parse(_ text: String) -> [String: (user: String, password: String)] {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        var result: [String: (user: String, password: String)] = [:]
        var machine: String?
        var login = "", password = ""
        func flush() {
            if let machine { result[machine] = (login, password) }
        }
        var i = 0
        while i < tokens.count {
            switch tokens[i] {
            case "machine":
                flush()
                machine = i + 1 < tokens.count ? tokens[i + 1] : nil
                login = ""; password = ""
                i += 2
            case "default":
                flush()
                machine = "default"
                login = ""; password = ""
                i += 1
            case "login":
                login = i + 1 < tokens.count ? tokens[i + 1] : ""
                i += 2
            case "password":
                password = i + 1 < tokens.count ? tokens[i + 1] : ""
                i += 2
            default:
                i += 1
            }
        }
        flush()
        return result
    }
}

/// Moving archives between this machine and a remote. Remote calls that fail in passing (refused or
/// reset connections, timeouts, 5xx) are retried with backoff (``RetryingStore``); `onRetry` hears of each.
public struct Transfers: Sendable {
    public var onRetry: @Sendable (String) -> Void

    public init(onRetry: @escaping @Sendable (String) -> Void = { _ in }) {
        self.onRetry = onRetry
    }

    private func open(_ remote: String, _ environment: [String: String]) throws -> RemoteLocation {
        var location = try RemoteLocation(parsing: remote, environment: environment)
        location.store = RetryingStore(location.store, onRetry: onRetry)
        return location
    }

    /// Uploads the archive at `path` to `remote` under its own name, after checking it is an archive.
    /// Returns the object's name and size on the remote.
    public func push(_ path: String, to remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ObjectInfo {
        let location = try open(remote, environment)
        _ = try ArchiveContents.manifest(of: path)
        let name = location.objectName ?? (path as NSString).lastPathComponent
        let size = FileSystem.size(of: path) ?? 0
        try Self.mapped { try location.store.put(file: path, as: name) }
        guard let info = try Self.mapped({ try location.store.stat(name) }), info.size == size else {
            throw BackupError(.unavailable, "\(name) on \(location.store) does not have the \(size) bytes just uploaded")
        }
        return info
    }

    /// Downloads the archive `remote` names into `output` (a folder, or a file name), under a temporary
    /// name until it is complete and reads as an archive. Returns the local path.
    public func pull(_ remote: String, output: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
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
        guard FileSystem.isDirectory(folder.isEmpty ? "." : folder) else {
            throw BackupError(.cantCreate, "cannot write \(destination): the folder \(folder) does not exist")
        }
        let temporary = FileSystem.temporarySibling(of: destination, suffix: "download")
        TemporaryFiles.shared.register(temporary)
        defer { TemporaryFiles.shared.remove(temporary) }
        try Self.mapped { try location.store.get(name, to: temporary) }
        _ = try ArchiveContents.manifest(of: temporary)
        try FileSystem.publish(temporary, as: destination)
        return destination
    }

    /// Downloads the archive `remote` names into a new private folder under `temporaryDirectory`, runs
    /// `body` on the local copy, and removes the folder whatever happens.
    public func withDownload<T>(_ remote: String, temporaryDirectory: String = FileManager.default.temporaryDirectory.path,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                _ body: (String) throws -> T) throws -> T {
        var verifier = Verifier()
        verifier.temporaryDirectory = temporaryDirectory
        let folder = try verifier.makeWorkspace()
        defer { TemporaryFiles.shared.remove(folder) }
        let path = try pull(remote, output: folder + "/", environment: environment)
        return try body(path)
    }

    /// The archives in a remote folder: name, size, time; kind from the name.
    public func list(_ remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ListReport {
        let location = try open(remote, environment)
        let objects = try Self.mapped { try location.store.list(prefix: "") }.filter { $0.name.hasSuffix(".tar.zst") }
        let items = objects.map { object in
            ListReport.Item(name: object.name, bytes: object.size,
                            createdAt: object.modified.map { Timestamp.iso8601(seconds: Int64($0.timeIntervalSince1970)) },
                            kind: object.name.hasSuffix("-partial.tar.zst") ? .partial : object.name.hasSuffix("-full.tar.zst") ? .full : nil,
                            sessions: nil, host: nil, appVersion: nil, problem: nil)
        }.sorted { ($0.createdAt ?? "", $0.name) > ($1.createdAt ?? "", $1.name) }
        return ListReport(location: "\(location.store)", archives: items)
    }

    /// Runs a store call, turning its ``StoreError`` into a ``BackupError`` with the sysexits code.
    static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            switch error.kind {
            case .notFound: throw BackupError(.noInput, error.message, cause: error)
            case .refused: throw BackupError(.noPermission, error.message, cause: error)
            case .unavailable: throw BackupError(.unavailable, error.message, cause: error)
            case .other: throw BackupError(.ioError, error.message, cause: error)
            }
        }
    }
}
