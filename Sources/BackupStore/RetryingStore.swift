import Foundation

/// Retries what may pass (``StoreError/Kind/unavailable``: refused or reset connections, timeouts, 5xx)
/// with exponential backoff and jitter, bounded in attempts and in time. Safe because every verb is
/// idempotent: `put` uploads to a temporary name and moves it, `get` rewrites its file.
public struct RetryingStore: RemoteStore {
    public let base: any RemoteStore
    public var attempts = 5
    public var firstDelay: Double = 0.5
    public var maxDelay: Double = 8
    /// No new attempt starts after this many seconds.
    public var deadline: Double = 300
    /// Told about each retry (what failed, the delay), for the user's stderr.
    public var onRetry: @Sendable (String) -> Void

    public init(_ base: any RemoteStore, onRetry: @escaping @Sendable (String) -> Void = { _ in }) {
        self.base = base
        self.onRetry = onRetry
    }

    public var description: String { base.description }

    func retrying<T>(_ body: () throws -> T) throws -> T {
        let started = Date()
        var delay = firstDelay
        var attempt = 1
        while true {
            do {
                return try body()
            } catch let error as StoreError where error.kind == .unavailable {
                guard attempt < attempts, Date().timeIntervalSince(started) + delay < deadline else { throw error }
                let wait = delay * Double.random(in: 0.5...1.5)
                onRetry("\(error.message); retrying in \(String(format: "%.1f", wait)) s (attempt \(attempt + 1) of \(attempts))")
                Thread.sleep(forTimeInterval: wait)
                delay = min(maxDelay, delay * 2)
                attempt += 1
            }
        }
    }

    public func put(file path: String, as name: String) throws { try retrying { try base.put(file: path, as: name) } }
    public func get(_ name: String, to path: String) throws { try retrying { try base.get(name, to: path) } }
    public func stat(_ name: String) throws -> ObjectInfo? { try retrying { try base.stat(name) } }
    public func list(prefix: String) throws -> [ObjectInfo] { try retrying { try base.list(prefix: prefix) } }
    public func delete(_ name: String) throws { try retrying { try base.delete(name) } }
}
