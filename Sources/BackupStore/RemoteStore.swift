import BackupHTTP
import Foundation

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

/// The failure of a store operation: its kind (what a caller can act on), one line saying what and
/// where (never credentials), and the HTTP status when there was one.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case notFound
        /// 401/403: credentials refused.
        case refused
        /// The server cannot be reached or failed (5xx, reset, refused connection).
        case unavailable
        case other
    }

    public let kind: Kind
    public let message: String
    public let status: Int?
    /// Retries already ran out on this (inside a store, say for one part of an upload): do not retry again.
    public var exhausted = false

    /// Worth another attempt after a pause.
    public var isRetryable: Bool { kind == .unavailable && !exhausted }

    public init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    public var description: String { message }

    /// A transfer that failed without an HTTP status. Refused or reset connections and timeouts may pass
    /// and are retried; DNS and TLS failures will not, so they are not.
    static func transfer(_ error: CurlError, doing: String) -> StoreError {
        var failure = StoreError(.unavailable, "\(doing): \(error)")
        failure.exhausted = !error.isTransient
        return failure
    }
}

/// A place archives are kept: a few verbs over flat object names (restic's backend, litestream's
/// ReplicaClient). Implementations: ``LocalStore``, ``WebDAVStore``. Every implementation passes the
/// same contract suite (`Tests/BackupStoreTests`). Calls block; use them off the main thread if needed.
public protocol RemoteStore: Sendable, CustomStringConvertible {
    /// Stores the file at `path` as `name`. Readers never see a partial object under `name`.
    func put(file path: String, as name: String) throws
    /// Writes the object `name` to the file at `path` (created or truncated).
    /// - Throws: ``StoreError`` `.notFound` when there is no such object.
    func get(_ name: String, to path: String) throws
    /// The object's size and time, or nil when there is no such object.
    func stat(_ name: String) throws -> ObjectInfo?
    /// Objects whose names start with `prefix`, sorted by name.
    func list(prefix: String) throws -> [ObjectInfo]
    /// Removes `name`; removing what is not there is not an error.
    func delete(_ name: String) throws
}

extension RemoteStore {
    /// Object names are one path component: no slashes, no `..`, not hidden.
    static func check(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.hasPrefix(".") else {
            throw StoreError(.other, "invalid object name '\(name)'")
        }
    }
}
