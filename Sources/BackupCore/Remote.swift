import BackupModel
import BackupStore
import Foundation

/// How to reach remotes, from the command line: an S3 endpoint, S3 addressing, TLS checking.
public struct RemoteOptions: Sendable {
    /// The S3 endpoint, `http(s)://host[:port]`; else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then AWS.
    public var endpoint: String?
    /// Path-style or virtual-host requests; nil: virtual-host for AWS, path-style for any other endpoint.
    public var addressing: S3Store.Addressing?
    /// `--insecure`: accept any TLS certificate and host name.
    public var insecure = false
    /// Told about every retry (of a whole call, of one part of an upload, of a download's rest).
    public var onRetry: @Sendable (String) -> Void = { _ in }

    public init(endpoint: String? = nil, addressing: S3Store.Addressing? = nil, insecure: Bool = false) {
        self.endpoint = endpoint
        self.addressing = addressing
        self.insecure = insecure
    }
}

/// A remote location given on the command line, optionally ending in an archive's name (`*.tar.zst`):
/// - `webdav+https://host/path` or `webdav+http://...`: credentials from `PTC_WEBDAV_USER`/`PTC_WEBDAV_PASSWORD`,
///   else `~/.netrc`;
/// - `s3://bucket/prefix`: credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
///   `AWS_SESSION_TOKEN`), else the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`,
///   profile `AWS_PROFILE` or `default`); region from `AWS_REGION`/`AWS_DEFAULT_REGION` (default us-east-1).
/// Never from the URL, and they never appear in messages.
public struct RemoteLocation: Sendable {
    public internal(set) var store: any RemoteStore
    /// The object named by the URL's last component, when it names an archive (`*.tar.zst`).
    public let objectName: String?

    /// Whether `text` looks like a remote URL rather than a local path.
    public static func isRemote(_ text: String) -> Bool {
        text.hasPrefix("webdav+http://") || text.hasPrefix("webdav+https://") || text.hasPrefix("s3://")
    }

    /// - Throws: ``BackupError`` `usage` for a malformed URL or credentials in it, `noPermission` when an S3
    ///   remote has no credentials.
    public init(parsing text: String, options: RemoteOptions = RemoteOptions(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if text.hasPrefix("s3://") {
            (store, objectName) = try Self.s3(text, options: options, environment: environment)
            return
        }
        guard Self.isRemote(text), var components = URLComponents(string: String(text.dropFirst("webdav+".count))),
              let host = components.host, !host.isEmpty else {
            throw BackupError(.usage, "invalid remote '\(text)': use webdav+https://host/path, webdav+http://host/path or s3://bucket/prefix")
        }
        guard components.user == nil && components.password == nil else {
            throw BackupError(.usage, "put WebDAV credentials in PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD or ~/.netrc, not in the URL")
        }
        let (path, object) = Self.splitArchiveName(components.path)
        components.path = path
        let credentials = Self.credentials(host: host, environment: environment)
        var webdav = WebDAVStore(baseURL: components.string ?? "", user: credentials?.user, password: credentials?.password)
        webdav.verifyTLS = !options.insecure
        store = webdav
        objectName = object
    }

    /// `folder/name.tar.zst` → (`folder`, `name.tar.zst`); anything else is all folder.
    static func splitArchiveName(_ path: String) -> (folder: String, object: String?) {
        guard path.hasSuffix(".tar.zst") else { return (path, nil) }
        return ((path as NSString).deletingLastPathComponent, (path as NSString).lastPathComponent)
    }

    static func s3(_ text: String, options: RemoteOptions, environment: [String: String]) throws -> (S3Store, String?) {
        let rest = String(text.dropFirst("s3://".count))
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty, !bucket.contains("@"), !bucket.contains(":") else {
            if bucket.contains("@") || bucket.contains(":") {
                throw BackupError(.usage, "put S3 credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials), not in the URL")
            }
            throw BackupError(.usage, "invalid remote '\(text)': use s3://bucket/prefix")
        }
        let (prefix, object) = splitArchiveName(String(rest.dropFirst(bucket.count)))
        guard let credentials = AWSEnvironment.credentials(environment) else {
            throw BackupError(.noPermission, "no S3 credentials for \(text): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to ~/.aws/credentials")
        }
        let region = AWSEnvironment.region(environment)
        let endpoint = options.endpoint ?? environment["AWS_ENDPOINT_URL_S3"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://s3.\(region).amazonaws.com"
        let onAWS = URLComponents(string: endpoint)?.host?.hasSuffix(".amazonaws.com") == true
        // Virtual-host names with dots break TLS wildcard certificates: those buckets go path-style.
        let addressing = options.addressing ?? (onAWS && !bucket.contains(".") ? .virtualHost : .path)
        var configuration = S3Store.Configuration(endpoint: endpoint, bucket: bucket, prefix: prefix, region: region,
                                                  addressing: addressing, credentials: credentials)
        configuration.verifyTLS = !options.insecure
        configuration.backoff.onRetry = options.onRetry
        do {
            return (try S3Store(configuration), object)
        } catch let error as StoreError {
            throw BackupError(.usage, error.message)
        }
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

/// Where AWS tools look for keys and region: the `AWS_*` variables, then the shared files.
enum AWSEnvironment {
    static func credentials(_ environment: [String: String]) -> S3Credentials? {
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            return S3Credentials(accessKey: key, secretKey: secret, sessionToken: token)
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? (home as NSString).appendingPathComponent(".aws/credentials")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let profile = ini(text)[environment["AWS_PROFILE"] ?? "default"] ?? [:]
        guard let key = profile["aws_access_key_id"], let secret = profile["aws_secret_access_key"] else { return nil }
        return S3Credentials(accessKey: key, secretKey: secret, sessionToken: profile["aws_session_token"] ?? token)
    }

    static func region(_ environment: [String: String]) -> String {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let region = environment[name], !region.isEmpty { return region }
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_CONFIG_FILE"] ?? (home as NSString).appendingPathComponent(".aws/config")
        let profile = environment["AWS_PROFILE"] ?? "default"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let sections = ini(text)
            if let region = (sections[profile == "default" ? "default" : "profile \(profile)"] ?? sections[profile])?["region"] {
                return region
            }
        }
        return "us-east-1"
    }

    /// `[section]` then `key = value` lines; `#` and `;` start comments.
    static func ini(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            } else if let equals = line.firstIndex(of: "=") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                sections[current, default: [:]][key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return sections
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
    public var options: RemoteOptions

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
        let objects = try Self.mapped { try location.store.list(prefix: "") }.filter { $0.name.hasSuffix(".tar.zst") }
        let items = objects.map { object in
            ListReport.Item(name: object.name, bytes: object.size,
                            createdAt: object.modified.map { Timestamp.iso8601(seconds: Int64($0.timeIntervalSince1970)) },
                            kind: ArchiveName(parsing: object.name).flatMap { Manifest.Kind(rawValue: $0.kind) },
                            sessions: nil, host: nil, appVersion: nil, problem: nil)
        }.sorted(by: Lister.newestFirst)
        return ListReport(location: "\(location.store)", archives: items)
    }

    /// Runs a store call, turning its ``StoreError`` into a ``BackupError`` with the sysexits code.
    static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw BackupError(error)
        }
    }
}

extension BackupError {
    /// The exit code of a store's failure, by its kind: the one table for every store (local, WebDAV, S3).
    public init(_ error: StoreError, file: String = #fileID, line: Int = #line) {
        let code: Code = switch error.kind {
        case .notFound: .noInput
        case .refused: .noPermission
        case .unavailable: .unavailable
        case .cantCreate: .cantCreate
        case .noSpace: .ioError
        case .other: .ioError
        }
        self.init(code, error.message, cause: error, file: file, line: line)
    }
}
