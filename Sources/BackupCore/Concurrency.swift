import BackupDigest
import Foundation
import Synchronization

// The concurrency of the operations layer, in one place: SQLite, libarchive and file work block, so it
// runs on threads of its own (never on the Swift concurrency pool); state shared between threads sits in
// a `Mutex`; waiting is on semaphores signalled by the event, never by polling.

/// A `Mutex` that escaping closures and several owners can share (a `Mutex` itself cannot be copied).
final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: sending Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R { try mutex.withLock(body) }
}

/// Runs a blocking body on its own thread and hands back its result with ``wait()``.
final class BackgroundTask<Value: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let outcome = Mutex<Result<Value, any Error>?>(nil)

    init(_ body: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            let result = Result { try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Blocks until the body has finished; returns what it returned or rethrows what it threw (every
    /// time it is called, from any thread).
    @discardableResult
    func wait() throws -> Value {
        done.wait()
        done.signal() // for the next wait
        return try outcome.withLock { $0! }.get()
    }
}

/// A flag set on one thread and read on others.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// `quick_check` and the SHA-256 of a finished snapshot, each on a thread of its own.
struct SnapshotChecks: Sendable {
    private let check: BackgroundTask<Void>
    private let hashing: BackgroundTask<String>

    init(snapshotPath: String, sourcePath: String) {
        check = BackgroundTask { try Snapshotter.quickCheck(snapshotPath: snapshotPath, sourcePath: sourcePath) }
        hashing = BackgroundTask {
            let hasher = SHA256()
            try FileSystem.readChunks(snapshotPath, doing: "hashing the snapshot") { hasher.update($0) }
            return hasher.finalize()
        }
    }

    /// Waits for both; returns the snapshot's SHA-256.
    /// - Throws: ``BackupError`` `dataError` when `quick_check` finds damage, or what reading threw.
    func wait() throws -> String {
        try check.wait()
        return try hashing.wait()
    }
}

/// Hashes a stream on a thread of its own while the caller goes on reading: the caller fills buffers
/// with ``fill(_:)`` and gets the SHA-256 from ``finish()``. A few buffers circulate, so the reader and
/// the hasher overlap without either holding more than a few MiB. Use it from one thread.
final class HashingPipe {
    /// `@unchecked Sendable`: raw buffers handed back and forth between the two threads; each is touched
    /// by one side at a time, as the `free`/`filled` semaphores order it.
    private struct Slots: @unchecked Sendable {
        let buffers: [UnsafeMutableRawBufferPointer]
        var count: Int { buffers.count }
        subscript(_ index: Int) -> UnsafeMutableRawBufferPointer { buffers[index] }
    }

    private let slots: Slots
    private let lengths: Locked<[Int]>
    private let free: DispatchSemaphore
    private let filled: DispatchSemaphore
    private let hasher: BackgroundTask<String>
    /// Used by the caller's thread only.
    private var produce = 0
    private var finished = false

    init(slots count: Int = 4, size: Int = 1 << 20) {
        let slots = Slots(buffers: (0..<count).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096) })
        let lengths = Locked(Array(repeating: 0, count: count))
        let filled = DispatchSemaphore(value: 0)
        self.filled = filled
        self.slots = slots
        self.lengths = lengths
        // Created at 0 and signalled up: libdispatch traps when a semaphore goes away below the value
        // it was created with, and finish() keeps one permit.
        free = DispatchSemaphore(value: 0)
        for _ in 0..<count { free.signal() }
        let free = free
        hasher = BackgroundTask { [slots] in
            let hasher = SHA256()
            var consume = 0
            while true {
                filled.wait()
                let n = lengths.withLock { $0[consume] }
                if n < 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: slots[consume][0..<n]))
                consume = (consume + 1) % slots.count
                free.signal()
            }
            return hasher.finalize()
        }
    }

    deinit {
        _ = finish()
        for slot in slots.buffers { slot.deallocate() }
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
        let slot = produce
        lengths.withLock { $0[slot] = n }
        produce = (produce + 1) % slots.count
        filled.signal()
        return n
    }

    /// Waits for everything handed over to be hashed; returns the digest. Safe to call more than once.
    func finish() -> String {
        if !finished {
            finished = true
            free.wait()
            let slot = produce
            lengths.withLock { $0[slot] = -1 }
            filled.signal()
        }
        return (try? hasher.wait()) ?? ""
    }
}
