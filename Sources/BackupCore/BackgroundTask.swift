import BackupDigest
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

/// `quick_check` and the SHA-256 of a finished snapshot, each on a thread of its own.
final class SnapshotChecks: @unchecked Sendable {
    private let check: BackgroundTask
    private let hashing: BackgroundTask

    init(snapshotPath: String, sourcePath: String) {
        check = BackgroundTask { try Snapshotter.quickCheck(snapshotPath: snapshotPath, sourcePath: sourcePath) }
        let result = DigestResult()
        hashing = BackgroundTask {
            let hasher = SHA256()
            try FileSystem.readChunks(snapshotPath, doing: "hashing the snapshot") { hasher.update($0) }
            result.value = hasher.finalize()
        }
        self.result = result
    }

    private let result: DigestResult

    /// Waits for both; returns the snapshot's SHA-256.
    /// - Throws: ``BackupError`` `dataError` when `quick_check` finds damage, or what reading threw.
    func wait() throws -> String {
        try check.wait()
        try hashing.wait()
        return result.value
    }

    /// Written by the hashing thread before it ends, read after ``BackgroundTask/wait()``.
    private final class DigestResult: @unchecked Sendable {
        var value = ""
    }
}
