import BackupSystem
import BackupHTTP
import Foundation
import Synchronization
import SystemPackage

/// A WebDAV collection (Apache mod_dav, Nextcloud, rclone, ...). Uploads go to a hidden temporary name and
/// are then MOVEd to their own, so no reader ever sees half an object; missing parent collections are created.
public struct WebDAVStore: RemoteStore {
    /// The collection's URL, `http(s)://host[:port]/path`, without credentials.
    public let baseURL: String
    let credentials: (user: String, password: String)?
    /// Where the credentials came from, for the error of a refused request ("PTC_WEBDAV_USER and
    /// PTC_WEBDAV_PASSWORD from the environment", "machine nas.local of ~/.netrc"); never the password.
    public var credentialSource = "the caller"
    let client = HTTPClient()
    /// TLS certificates and host names are checked unless this is false (`--insecure`).
    public var verifyTLS = true
    /// A transfer that moves nothing for this many seconds is given up (and retried).
    public var stallTimeout = 30
    /// The authentication scheme the server asked for, once known (so uploads never go out unauthenticated).
    /// Shared by the copies of this store (a class: `Mutex` cannot be copied with the struct).
    private let scheme = SchemeMemory()

    private final class SchemeMemory: Sendable {
        let known = Mutex<AuthScheme?>(nil)
    }

    public init(baseURL: String, user: String?, password: String?) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        credentials = user.map { ($0, password ?? "") }
    }

    public var description: String { baseURL }

    private func url(_ name: String) -> String {
        baseURL + "/" + Self.encoded(name)
    }

    /// One path component, percent-encoded.
    private static func encoded(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? component
    }

    private func request(_ method: String, _ url: String) -> HTTPRequest {
        var request = HTTPRequest(method: method, url: url)
        request.credentials = credentials
        request.authScheme = scheme.known.withLock { $0 } ?? .any
        request.verifyTLS = verifyTLS
        request.stallTimeout = stallTimeout
        return request
    }

    /// A request that still goes out after SIGINT/SIGTERM (``TransferCancellation``): clean-up.
    private func cleanup(_ method: String, _ url: String) -> HTTPRequest {
        var request = request(method, url)
        request.cancellable = false
        return request
    }

    private func perform(_ request: HTTPRequest, doing: String) throws -> HTTPResponse {
        do {
            return try client.perform(request)
        } catch {
            throw StoreError.transfer(error, doing: doing)
        }
    }

    private func failure(_ response: HTTPResponse, _ doing: String, url: String? = nil) -> StoreError {
        let kind: StoreError.Kind
        switch response.status {
        case 404: kind = .notFound
        case 401, 403: kind = .refused
        // 423 Locked: another client holds a lock on the resource for now.
        case 408, 423, 429, 500...: kind = .unavailable
        default: kind = .other
        }
        var said = ""
        if kind == .refused {
            // Which credentials were refused and how to give others: never the password.
            if let credentials {
                said = "; credentials used: user \(credentials.user) from \(credentialSource); check them, or set "
                    + "PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD"
            } else {
                said = "; no credentials were sent: set PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD, or add the host to ~/.netrc"
            }
        }
        return .response(kind, doing: doing, url: url ?? baseURL, status: response.status, said: said)
    }

    /// Learns the server's scheme from a body-less request without credentials. With the scheme unknown,
    /// curl would send an upload's whole body without credentials first, then again with them (and a server
    /// that closes the connection after its 401 can cut that first copy short).
    private func learnScheme() throws {
        guard credentials != nil, scheme.known.withLock({ $0 }) == nil else { return }
        var probe = HTTPRequest(method: "HEAD", url: baseURL + "/")
        probe.verifyTLS = verifyTLS
        probe.stallTimeout = stallTimeout
        let response = try perform(probe, doing: "asking \(baseURL) how to authenticate")
        if response.status == 401, let challenge = response.headers["www-authenticate"] {
            scheme.known.withLock { $0 = AuthScheme(challenge: challenge) }
        }
    }

    public func put(file path: String, as name: String, replacing: Bool) throws {
        try Self.check(name)
        try learnScheme()
        let size: Int64
        do {
            size = try FileCalls.size(of: path)
        } catch {
            throw StoreError.file(error, doing: "uploading \(name) to \(baseURL)", path: path, creating: false)
        }
        let temporary = TemporaryName.make(for: name)
        var upload = request("PUT", url(temporary))
        upload.body = .file(path: path, size: size)
        let response: HTTPResponse
        do {
            var first = try perform(upload, doing: "uploading \(name) to \(baseURL)")
            if [404, 409, 500].contains(first.status) {
                // The collection (or a parent) is missing: servers answer 409, 404 or 500. Create it, try again.
                try createCollections()
                first = try perform(upload, doing: "uploading \(name) to \(baseURL)")
            }
            response = first
            guard response.isSuccess else { throw failure(response, "uploading \(name) to \(baseURL)") }
        } catch {
            // Whatever part of the upload arrived stays under its temporary name only; remove it if we can.
            _ = try? client.perform(cleanup("DELETE", url(temporary)))
            throw error
        }
        var move = request("MOVE", url(temporary))
        move.headers = [("Destination", url(name)), ("Overwrite", replacing ? "T" : "F")]
        let moved = try perform(move, doing: "moving \(name) into place on \(baseURL)")
        guard moved.isSuccess else {
            _ = try? perform(cleanup("DELETE", url(temporary)), doing: "removing the temporary upload")
            if moved.status == 412 && !replacing {
                // RFC 4918: Overwrite: F and the destination exists.
                throw StoreError(.cantCreate, doing: "moving \(name) into place on \(baseURL)", location: url(name),
                                 reason: "\(name) is already there", status: 412)
            }
            throw failure(moved, "moving \(name) into place on \(baseURL)")
        }
    }

    /// MKCOL every component of the base path, from the top: 201 made it, 405 means it was there.
    private func createCollections() throws {
        guard let components = URLComponents(string: baseURL) else {
            throw StoreError(.other, doing: "creating the collection \(baseURL)", location: baseURL, reason: "not a valid URL")
        }
        var origin = components
        origin.path = ""
        var current = origin.string ?? ""
        for part in components.path.split(separator: "/") { // decoded: encoded again as in url(_:)
            current += "/" + Self.encoded(String(part))
            let response = try perform(request("MKCOL", current + "/"), doing: "creating the collection \(current)")
            guard response.isSuccess || response.status == 405 || response.status == 301 else {
                throw failure(response, "creating the collection \(current)", url: current)
            }
        }
    }

    public func get(_ name: String, to path: String) throws {
        try Self.check(name)
        var download = request("GET", url(name))
        download.downloadPath = path
        let response = try perform(download, doing: "downloading \(name) from \(baseURL)")
        guard response.status == 200 else {
            try? FileCalls.remove(path)
            throw failure(response, "downloading \(name) from \(baseURL)", url: url(name))
        }
    }

    public func stat(_ name: String) throws -> ObjectInfo? {
        try Self.check(name)
        let response = try perform(request("HEAD", url(name)), doing: "looking up \(name) on \(baseURL)")
        if response.status == 404 { return nil }
        guard response.isSuccess else { throw failure(response, "looking up \(name) on \(baseURL)") }
        return ObjectInfo(name: name, size: Int64(response.headers["content-length"] ?? "") ?? 0,
                          modified: response.headers["last-modified"].flatMap(Self.httpDate))
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        try objects().filter { $0.name.hasPrefix(prefix) && !$0.name.hasPrefix(".") }
    }

    public func leftovers() throws -> [Leftover] {
        try objects().filter { TemporaryName.isTemporary($0.name) }
            .map { Leftover(name: $0.name, kind: .temporary, bytes: $0.size, since: $0.modified) }
    }

    public func remove(_ leftover: Leftover) throws {
        guard leftover.kind == .temporary, TemporaryName.isTemporary(leftover.name), !leftover.name.contains("/") else { return }
        let doing = "removing \(leftover.name) from \(baseURL)"
        let response = try perform(request("DELETE", url(leftover.name)), doing: doing)
        guard response.isSuccess || response.status == 404 else { throw failure(response, doing) }
    }

    /// Every object (not collection) in the collection, hidden ones too, sorted by name.
    private func objects() throws -> [ObjectInfo] {
        var find = request("PROPFIND", baseURL + "/")
        find.headers = [("Depth", "1"), ("Content-Type", "application/xml; charset=utf-8")]
        find.body = .bytes(Array(#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getcontentlength/><d:getlastmodified/><d:resourcetype/></d:prop></d:propfind>"#.utf8))
        let response = try perform(find, doing: "listing \(baseURL)")
        if response.status == 404 { return [] }
        guard response.status == 207 else { throw failure(response, "listing \(baseURL)") }
        let entries = try Propfind.parse(Data(response.body), listing: baseURL)
        return entries.filter { !$0.isCollection }.compactMap { entry -> ObjectInfo? in
            let name = entry.name
            guard !name.isEmpty else { return nil }
            return ObjectInfo(name: name, size: entry.size, modified: entry.modified.flatMap(Self.httpDate))
        }.sorted { $0.name < $1.name }
    }

    /// A delete is small and undoes nothing: it still goes out after SIGINT/SIGTERM (an interrupted run
    /// removes its lock object on the way out).
    public func delete(_ name: String) throws {
        try Self.check(name)
        let response = try perform(cleanup("DELETE", url(name)), doing: "deleting \(name) from \(baseURL)")
        guard response.isSuccess || response.status == 404 else { throw failure(response, "deleting \(name) from \(baseURL)") }
    }

    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

/// A PROPFIND multistatus, read by XML namespace (servers use different prefixes for `DAV:`).
enum Propfind {
    struct Entry {
        var size: Int64
        var modified: String?
        var isCollection: Bool
        /// The last path component, decoded; empty for the listed collection itself.
        var name: String
    }

    static func parse(_ data: Data, listing base: String) throws -> [Entry] {
        let root = try XMLElement.parse(data, what: "the server's listing of \(base)", from: base)
        var basePath = URLComponents(string: base)?.percentEncodedPath ?? ""
        while basePath.hasSuffix("/") { basePath.removeLast() }
        return root.all("response", in: "DAV:").map { response in
            let href = response.value("href", in: "DAV:") ?? ""
            var path = URLComponents(string: href)?.percentEncodedPath ?? href
            while path.hasSuffix("/") { path.removeLast() }
            let properties = response.descendants("prop", in: "DAV:")
            let property = { (name: String) in properties.lazy.compactMap { $0.value(name, in: "DAV:") }.first }
            return Entry(size: property("getcontentlength").flatMap { Int64($0) } ?? 0,
                         modified: property("getlastmodified"),
                         isCollection: properties.contains { !$0.descendants("collection", in: "DAV:").isEmpty },
                         name: path == basePath ? "" : ((path as NSString).lastPathComponent.removingPercentEncoding ?? ""))
        }
    }
}
