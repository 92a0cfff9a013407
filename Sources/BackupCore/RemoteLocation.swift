import BackupModel
import BackupStore
import Foundation

/// A remote location given on the command line, optionally ending in an archive's name (`*.tar.zst`):
/// - a folder on this machine (`/mnt/nas/ptc/`, `offsite/`, `file:///mnt/nas/ptc/`);
/// - `webdav+https://host/path` or `webdav+http://...`: credentials from `PTC_WEBDAV_USER`/`PTC_WEBDAV_PASSWORD`,
///   else `~/.netrc`;
/// - `s3://bucket/prefix`: credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
///   `AWS_SESSION_TOKEN`), else the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`,
///   profile `AWS_PROFILE` or `default`); region from `AWS_REGION`/`AWS_DEFAULT_REGION` (default us-east-1).
/// Never from the URL, and they never appear in messages.
///
/// `%` is a percent-escape in both kinds, as in any URL: `webdav+https://host/my%20backups/` is the folder
/// `my backups`, `s3://bucket/my%20backups/` the key prefix `my backups/`; a literal `%` is written `%25`, and a
/// `%` not followed by two hex digits is a usage error (64).
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
        if Self.isRemote(text), text.removingPercentEncoding == nil {
            throw BackupError(.usage, "invalid remote '\(text)': a % must start an escape of two hex digits (write a literal % as %25)")
        }
        if text.hasPrefix("s3://") {
            (store, objectName) = try Self.s3(text, options: options, environment: environment)
            return
        }
        if let folder = Self.localPath(text) {
            // A folder on this machine (a mounted disk, a synced folder): the same store contract, no network.
            let (path, object) = Self.splitArchiveName(folder)
            store = LocalStore(root: path.isEmpty ? "." : path)
            objectName = object
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
        webdav.credentialSource = options.credentialSource ?? credentials?.source ?? "nowhere"
        webdav.verifyTLS = !options.insecure
        store = webdav
        objectName = object
    }

    /// A local path: `file:///path`, or text that names no remote (absolute, relative, no `scheme:`).
    static func localPath(_ text: String) -> String? {
        if text.hasPrefix("file://") { return String(text.dropFirst("file://".count)).removingPercentEncoding }
        guard !isRemote(text), !text.isEmpty else { return nil }
        if text.hasPrefix("/") || text.hasPrefix(".") || !text.contains(":") { return text }
        return nil
    }

    /// `folder/name.tar.zst` → (`folder`, `name.tar.zst`); anything else is all folder.
    static func splitArchiveName(_ path: String) -> (folder: String, object: String?) {
        guard ArchiveName.hasArchiveSuffix(path) else { return (path, nil) }
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
        // Percent-escapes are decoded, as WebDAV URLs' are (the path of URLComponents); the store encodes again.
        guard let path = String(rest.dropFirst(bucket.count)).removingPercentEncoding else {
            throw BackupError(.usage, "invalid remote '\(text)': a % must start an escape of two hex digits (write a literal % as %25)")
        }
        let (prefix, object) = splitArchiveName(path)
        guard let credentials = AWSEnvironment.credentials(environment) else {
            throw BackupError(.noPermission, "no S3 credentials for \(text): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to ~/.aws/credentials")
        }
        let region = AWSEnvironment.region(environment)
        let endpoint = options.endpoint ?? environment["AWS_ENDPOINT_URL_S3"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://s3.\(region).amazonaws.com"
        let onAWS = URLComponents(string: endpoint)?.host?.hasSuffix(".amazonaws.com") == true
        // Virtual-host names with dots break TLS wildcard certificates: those buckets go path-style.
        let addressing = options.addressing ?? (onAWS && !bucket.contains(".") ? .virtualHost : .path)
        var named = credentials
        if let source = options.credentialSource { named.source = source }
        var configuration = S3Store.Configuration(endpoint: endpoint, bucket: bucket, prefix: prefix, region: region,
                                                  addressing: addressing, credentials: named)
        configuration.verifyTLS = !options.insecure
        configuration.createsBucket = options.createsBucket
        configuration.transfers = options.transfers
        configuration.backoff.onRetry = options.onRetry
        do {
            return (try S3Store(configuration), object)
        } catch let error as StoreError {
            throw BackupError(.usage, error.message)
        }
    }

    /// WebDAV credentials for `host` and where they came from (for the error of a refused request).
    static func credentials(host: String, environment: [String: String]) -> (user: String, password: String, source: String)? {
        if let user = environment["PTC_WEBDAV_USER"], !user.isEmpty {
            return (user, environment["PTC_WEBDAV_PASSWORD"] ?? "", "PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD from the environment")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let netrc = environment["NETRC"] ?? (home as NSString).appendingPathComponent(".netrc")
        guard let text = try? String(contentsOfFile: netrc, encoding: .utf8) else { return nil }
        let entries = NetRC.parse(text)
        if let entry = entries[host] { return (entry.user, entry.password, "machine \(host) of \(netrc)") }
        if let entry = entries["default"] { return (entry.user, entry.password, "the default entry of \(netrc)") }
        return nil
    }
}

/// How to reach remotes, from the command line: an S3 endpoint, S3 addressing, TLS checking, parallel parts.
public struct RemoteOptions: Sendable {
    /// The S3 endpoint, `http(s)://host[:port]`; else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then AWS.
    public var endpoint: String?
    /// Path-style or virtual-host requests; nil: virtual-host for AWS, path-style for any other endpoint.
    public var addressing: S3Store.Addressing?
    /// `--insecure`: accept any TLS certificate and host name.
    public var insecure = false
    /// An S3 bucket that does not exist is created by an upload (and lists empty); false: 69 naming it.
    public var createsBucket = true
    /// Where a named remote's credentials came from (`remote.nas of /path/config.toml`), named when a server
    /// refuses them; nil: the environment, ~/.netrc or ~/.aws, as found.
    public var credentialSource: String?
    /// Parts of an S3 upload sent at once (`--transfers`), each on its own connection.
    public var transfers = 4
    /// Told about every retry (of a whole call, of one part of an upload, of a download's rest).
    public var onRetry: @Sendable (String) -> Void = { _ in }

    public init(endpoint: String? = nil, addressing: S3Store.Addressing? = nil, insecure: Bool = false) {
        self.endpoint = endpoint
        self.addressing = addressing
        self.insecure = insecure
    }
}
