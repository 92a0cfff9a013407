import Foundation

/// Runs a blocking body on its own thread (SQLite and file work block, so they do not belong on the
/// Swift concurrency pool) and hands back its outcome with ``wait()``.
final class BackgroundTask: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<Void, any Error> = .success(())
    private var waited = false

    init(_ body: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            do { try body() } catch { outcome = .failure(error) }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Blocks until the body has finished; rethrows what it threw (every time it is called).
    func wait() throws {
        if !waited {
            done.wait()
            waited = true
        }
        try outcome.get()
    }
}
