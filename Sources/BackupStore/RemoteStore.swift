import Foundation

/// A place archives are kept: a few verbs over flat object names (restic's backend, litestream's
/// ReplicaClient). Implementations: ``LocalStore``, ``WebDAVStore``, ``S3Store``, and the decorator
/// ``RetryingStore``. Every implementation passes the same contract suite (`Tests/BackupStoreTests`).
/// Every verb throws ``StoreError`` only. Calls block; use them off the main thread if needed.
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
            throw StoreError(.other, doing: "checking the object name '\(name)'", location: "\(name)",
                             reason: "an object name is one path component, not hidden")
        }
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
