import Synchronization

/// Process-wide cancellation of transfers, for SIGINT and SIGTERM: a blocking `curl_easy_perform` cannot
/// be interrupted from outside, so every transfer checks ``isRequested`` in its progress callback (called by
/// curl at least once a second, also while nothing moves) and stops with ``CurlError/isCancelled``.
/// Requests that clean up after a cancelled one (aborting a multipart upload, deleting a temporary object)
/// set ``HTTPRequest/cancellable`` to false and still go out.
///
/// Work that knows how to clean up after such a stop runs inside ``interruptible(_:)``; a signal handler asks
/// ``request()`` whether any is running, and if so lets it unwind instead of exiting at once.
/// Thread-safe.
public enum TransferCancellation {
    private static let state = Mutex<(requested: Bool, running: Int)>((false, 0))

    /// Whether cancellation was requested (it is never withdrawn: the process is about to end).
    public static var isRequested: Bool { state.withLock { $0.requested } }

    /// Requests cancellation of every cancellable transfer, now and later. Returns whether any
    /// ``interruptible(_:)`` work is running, which will now stop and clean up after itself.
    @discardableResult
    public static func request() -> Bool {
        state.withLock { state in
            state.requested = true
            return state.running > 0
        }
    }

    /// Runs `body`, counted as work that cleans up after itself when its transfers are cancelled.
    public static func interruptible<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { $0.running += 1 }
        defer { state.withLock { $0.running -= 1 } }
        return try body()
    }
}
