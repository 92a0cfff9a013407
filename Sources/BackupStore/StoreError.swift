import BackupHTTP
import SystemPackage

/// The failure of a store operation: its ``Kind`` (what a caller can act on: BackupCore maps each to an
/// exit code), what was being done and where (a path, or a URL without credentials), why, and the HTTP
/// status or the system's error when there was one. Every store throws this and nothing else.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// No such object (or no such local file to send).
        case notFound
        /// 401/403: credentials refused; or permission denied reading or removing a local file.
        case refused
        /// The server cannot be reached or failed (5xx, reset, refused connection).
        case unavailable
        /// A local file or folder cannot be created or written: its folder is missing, not a folder, read-only
        /// or not ours to write.
        case cantCreate
        /// No space left on the device (or over quota, or past the largest file size).
        case noSpace
        case other
    }

    public let kind: Kind
    /// What was being done, with where: "uploading a.tar.zst to https://dav.example.org/backups".
    public let doing: String
    /// The file or URL concerned (never with credentials).
    public let location: String
    /// Why, as the server or the system put it: "the server answered 404", "No space left on device".
    public let reason: String
    public let status: Int?
    /// The system's error, when a local file operation failed.
    public let errno: Errno?
    /// Retries already ran out on this (inside a store, say for one part of an upload): do not retry again.
    public var exhausted = false
    /// What was downloaded twice does not have the SHA-256 stored with the object: the object is bad
    /// (a data error, not a failure that may pass).
    public var isChecksumMismatch = false

    /// Worth another attempt after a pause.
    public var isRetryable: Bool { kind == .unavailable && !exhausted }

    public init(_ kind: Kind, doing: String, location: String, reason: String, status: Int? = nil, errno: Errno? = nil) {
        self.kind = kind
        self.doing = doing
        self.location = location
        self.reason = reason
        self.status = status
        self.errno = errno
    }

    /// One line: what was being done, where, and why.
    public var message: String { "\(doing): \(reason)" }

    public var description: String { message }

    /// A local file operation that failed with `errno`, classified in one table for every store. `creating`:
    /// the file (or folder) was being created or written, rather than read or removed.
    public static func file(_ errno: Errno, doing: String, path: String, creating: Bool) -> StoreError {
        let kind: Kind
        switch errno {
        case .noSpace, .diskQuotaExceeded, .fileTooLarge: kind = .noSpace
        case .permissionDenied, .notPermitted, .readOnlyFileSystem: kind = creating ? .cantCreate : .refused
        case .noSuchFileOrDirectory, .notDirectory, .isDirectory, .fileExists: kind = creating ? .cantCreate : .notFound
        default: kind = .other
        }
        return StoreError(kind, doing: doing, location: path, reason: "\(errno) (\(path))", errno: errno)
    }

    /// ``file(_:doing:path:creating:)`` for an error thrown by a swift-system call (always an `Errno`).
    static func file(_ error: any Error, doing: String, path: String, creating: Bool) -> StoreError {
        file(error as? Errno ?? .ioError, doing: doing, path: path, creating: creating)
    }

    /// A transfer that failed without an HTTP status. Refused or reset connections and timeouts may pass
    /// and are retried; DNS and TLS failures will not, so they are not. A failure of the local file the body
    /// came from or went to is classified as a file operation's.
    static func transfer(_ error: CurlError, doing: String) -> StoreError {
        if let file = error.fileError {
            return .file(file.errno, doing: doing, path: file.path, creating: file.writing)
        }
        var failure = StoreError(.unavailable, doing: doing, location: error.url, reason: "\(error)")
        failure.exhausted = !error.isTransient
        return failure
    }

    /// What an HTTP server answered (a status it should not have), for ``failure`` functions of the stores.
    static func response(_ kind: Kind, doing: String, url: String, status: Int, said: String = "") -> StoreError {
        StoreError(kind, doing: doing, location: url, reason: "the server answered \(status)\(said)", status: status)
    }
}
