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

/// Hashes a stream on a thread of its own while the caller goes on reading: the caller fills buffers
/// with ``fill(_:)`` and gets the SHA-256 from ``finish()``. A few buffers circulate, so the reader and
/// the hasher overlap without either holding more than a few MiB.
final class HashingPipe: @unchecked Sendable {
    private let slots: [UnsafeMutableRawBufferPointer]
    private var lengths: [Int]
    private let free: DispatchSemaphore
    private let filled = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var produce = 0
    private var digest: String?
    private var finished = false

    init(slots count: Int = 4, size: Int = 1 << 20) {
        slots = (0..<count).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096) }
        lengths = Array(repeating: 0, count: count)
        // Created at 0 and signalled up: libdispatch traps when a semaphore goes away below the value
        // it was created with, and finish() keeps one permit.
        free = DispatchSemaphore(value: 0)
        for _ in 0..<count { free.signal() }
        let thread = Thread { [self] in
            let hasher = SHA256()
            var consume = 0
            while true {
                filled.wait()
                let n = lengths[consume]
                if n < 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: slots[consume][0..<n]))
                consume = (consume + 1) % slots.count
                free.signal()
            }
            digest = hasher.finalize()
            done.signal()
        }
        thread.start()
    }

    deinit {
        _ = finish()
        for slot in slots { slot.deallocate() }
    }

    /// Hands `body` a free buffer to fill; what it reports filled (its return value) is hashed.
    /// Returns that count. A count of 0, or a throw, gives the buffer back unhashed.
    func fill(_ body: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> Int {
        free.wait()
        let n: Int
        do {
            n = try body(slots[produce])
        } catch {
            free.signal()
            throw error
        }
        guard n > 0 else {
            free.signal()
            return 0
        }
        lengths[produce] = n
        produce = (produce + 1) % slots.count
        filled.signal()
        return n
    }

    /// Waits for everything handed over to be hashed; returns the digest. Safe to call more than once.
    func finish() -> String {
        if !finished {
            finished = true
            free.wait()
            lengths[produce] = -1
            filled.signal()
            done.wait()
        }
        return digest ?? ""
    }
}
