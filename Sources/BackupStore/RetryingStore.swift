import BackupHTTP
import Foundation

/// How often and how long to try again after a failure that may pass: exponential backoff with jitter,
/// bounded in attempts and in time. Shared by ``RetryingStore`` and the parts of an S3 upload.
public struct Backoff: Sendable {
    public var attempts = 5
    public var firstDelay: Double = 0.5
    public var maxDelay: Double = 8
    /// No new attempt starts after this many seconds.
    public var deadline: Double = 300
    /// Told about each retry (what failed, the delay), for the user's stderr.
    public var onRetry: @Sendable (String) -> Void = { _ in }

    public init() {}

    /// Runs `body` until it succeeds, throws something other than a retryable ``StoreError``, cancellation
    /// is requested (``TransferCancellation``), or the bounds are reached (then the last error is thrown, marked ``StoreError/exhausted``).
    public func run<T>(_ body: () throws -> T) throws -> T {
        let started = Date()
        var delay = firstDelay
        var attempt = 1
        while true {
            do {
                return try body()
            } catch var error as StoreError where error.isRetryable {
                // After SIGINT/SIGTERM nothing is tried again: the process is ending.
                guard attempt < attempts, !TransferCancellation.isRequested, Date().timeIntervalSince(started) + delay < deadline else {
                    error.exhausted = true
                    throw error
                }
                let wait = delay * Double.random(in: 0.5...1.5)
                onRetry("\(error.message); retrying in \(String(format: "%.1f", wait)) s (attempt \(attempt + 1) of \(attempts))")
                Thread.sleep(forTimeInterval: wait)
                delay = min(maxDelay, delay * 2)
                attempt += 1
            }
        }
    }
}

/// Retries what may pass (``StoreError/Kind/unavailable``: refused or reset connections, timeouts, 5xx)
/// with ``Backoff``. Safe because every verb is idempotent: `put` never exposes a partial object (WebDAV
/// uploads to a temporary name and moves it, an S3 PUT is atomic), `get` rewrites its file.
public struct RetryingStore: RemoteStore {
    public let base: any RemoteStore
    public var backoff: Backoff

    public init(_ base: any RemoteStore, backoff: Backoff = Backoff()) {
        self.base = base
        self.backoff = backoff
    }

    public init(_ base: any RemoteStore, onRetry: @escaping @Sendable (String) -> Void) {
        var backoff = Backoff()
        backoff.onRetry = onRetry
        self.init(base, backoff: backoff)
    }

    public var description: String { base.description }

    public func put(file path: String, as name: String, replacing: Bool) throws {
        try backoff.run { try base.put(file: path, as: name, replacing: replacing) }
    }
    public func get(_ name: String, to path: String) throws { try backoff.run { try base.get(name, to: path) } }
    public func stat(_ name: String) throws -> ObjectInfo? { try backoff.run { try base.stat(name) } }
    public func list(prefix: String) throws -> [ObjectInfo] { try backoff.run { try base.list(prefix: prefix) } }
    public func delete(_ name: String) throws { try backoff.run { try base.delete(name) } }
    public func leftovers() throws -> [Leftover] { try backoff.run { try base.leftovers() } }
    public func remove(_ leftover: Leftover) throws { try backoff.run { try base.remove(leftover) } }
}
