import BackupHTTP
import Foundation

/// A place archives are kept: a few verbs over flat object names (restic's backend, litestream's
/// ReplicaClient). Implementations: ``LocalStore``, ``WebDAVStore``, ``S3Store``, and the decorator
/// ``RetryingStore``. Every implementation passes the same contract suite (`Tests/BackupStoreTests`).
/// Every verb throws ``StoreError`` only. Calls block; use them off the main thread if needed.
public protocol RemoteStore: Sendable, CustomStringConvertible {
    /// Stores the file at `path` as `name`. Readers never see a partial object under `name`.
    /// With `replacing` false, an object already under `name` is left alone and the call throws
    /// ``StoreError`` `.cantCreate`: atomically on WebDAV (`MOVE` with `Overwrite: F`) and in a folder;
    /// S3 has no such condition on every server, so callers check with ``stat(_:)`` first.
    func put(file path: String, as name: String, replacing: Bool) throws
    /// Writes the object `name` to the file at `path` (created or truncated).
    /// - Throws: ``StoreError`` `.notFound` when there is no such object.
    func get(_ name: String, to path: String) throws
    /// The object's size and time, or nil when there is no such object.
    func stat(_ name: String) throws -> ObjectInfo?
    /// Objects whose names start with `prefix`, sorted by name.
    func list(prefix: String) throws -> [ObjectInfo]
    /// Removes `name`; removing what is not there is not an error.
    func delete(_ name: String) throws
    /// What interrupted uploads left in the store: hidden temporary objects (``TemporaryName``) and, on S3,
    /// multipart uploads never completed nor aborted. Never an object a reader sees.
    func leftovers() throws -> [Leftover]
    /// Removes one leftover (deletes the temporary object, aborts the upload); what is gone already is not an error.
    func remove(_ leftover: Leftover) throws
}

extension RemoteStore {
    /// ``put(file:as:replacing:)`` replacing what is there.
    public func put(file path: String, as name: String) throws {
        try put(file: path, as: name, replacing: true)
    }

    /// Object names are one path component: no slashes, no `..`, not hidden.
    static func check(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.hasPrefix(".") else {
            throw StoreError(.other, doing: "checking the object name '\(name)'", location: "\(name)",
                             reason: "an object name is one path component, not hidden")
        }
    }
}

/// The hidden name an upload is written under before it takes its own: `.NAME.part-HEX`. The stores
/// that rename into place (``LocalStore``, ``WebDAVStore``) use it, and ``RemoteStore/leftovers()``
/// finds what an interrupted upload left by it.
public enum TemporaryName {
    public static func make(for name: String) -> String {
        ".\(name).part-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// Whether `name` is such a temporary name (also with the decimal suffix earlier versions wrote).
    public static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), let dash = name.lastIndex(of: "-") else { return false }
        let suffix = name[name.index(after: dash)...]
        return name[..<dash].hasSuffix(".part") && name[..<dash].count > ".part".count + 1 && !suffix.isEmpty
            && suffix.allSatisfy(\.isHexDigit)
    }
}

/// Something an interrupted upload left in a store, taking space but never seen as an object.
public struct Leftover: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A hidden `.NAME.part-*` object (``TemporaryName``).
        case temporary
        /// An S3 multipart upload never completed nor aborted, and its id.
        case multipartUpload(id: String)
    }

    /// The temporary object's name, or the name the multipart upload was for.
    public var name: String
    public var kind: Kind
    /// The bytes it holds (an upload's parts so far).
    public var bytes: Int64
    /// When it was last written (an upload: when it was started); nil when the store does not say.
    public var since: Date?

    public init(name: String, kind: Kind, bytes: Int64, since: Date?) {
        self.name = name
        self.kind = kind
        self.bytes = bytes
        self.since = since
    }
}

/// What a store knows of one object.
public struct ObjectInfo: Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var modified: Date?
    /// The SHA-256 the object carries as metadata (S3 `x-amz-meta-sha256`), when the store keeps one.
    public var sha256: String?

    public init(name: String, size: Int64, modified: Date?, sha256: String? = nil) {
        self.name = name
        self.size = size
        self.modified = modified
        self.sha256 = sha256
    }
}

/// SIGINT and SIGTERM for remote work: ``request()`` stops every transfer at its next progress callback
/// (within about a second); a store then cleans up what the transfer leaves (an S3 multipart upload is
/// aborted, a WebDAV temporary object deleted) and throws. The C library's blocking call cannot be
/// interrupted otherwise. See BackupHTTP's `TransferCancellation`.
public enum StoreInterruption {
    /// Whether an interruption was requested.
    public static var isRequested: Bool { TransferCancellation.isRequested }

    /// Requests the interruption; returns whether ``interruptible(_:)`` work is running, which now
    /// stops, cleans up and throws (the caller then waits for it rather than exiting at once).
    @discardableResult
    public static func request() -> Bool { TransferCancellation.request() }

    /// Runs `body` (store calls that clean up after themselves when interrupted), counted by ``request()``.
    public static func interruptible<T>(_ body: () throws -> T) rethrows -> T {
        try TransferCancellation.interruptible(body)
    }
}
