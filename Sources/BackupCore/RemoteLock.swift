import BackupStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a remote folder (a WebDAV folder, an S3 prefix), restic-style: an object
/// `ptc-backup-lock-<host>-<pid>-<hex>.json` holding who holds it (``RemoteLock/Record``), written again
/// every ``refreshInterval`` while held and deleted on release.
///
/// Taken by the commands that write to a remote (`export --to`, `push`, `cleanup --to`, `prune REMOTE`).
/// A lock object is ignored and deleted (taken over) when it was last refreshed more than ``staleAfter``
/// ago, or when it names this host and a process that is gone. Two runs that create their objects at the
/// same moment both see the other's and both back off (75, or wait and try again with `--lock-wait`).
/// Lock objects end in `.json`: `list` and `prune` never take them for archives.
public final class RemoteLock: Sendable {
    /// What a lock object holds.
    public struct Record: Codable, Sendable {
        public var pid: Int32
        public var host: String
        /// When the lock was taken (ISO 8601, UTC).
        public var since: String
        /// When the holder last wrote it (seconds since 1970): staleness is measured from here.
        public var refreshed: Double
        public var command: String

        public var description: String { "\(command) (pid \(pid) on \(host), since \(since))" }
    }

    /// A lock not refreshed for this long is stale (restic: 30 minutes).
    public static let staleAfter: TimeInterval = 30 * 60
    /// How often a held lock is written again (restic: 5 minutes).
    public static let refreshInterval: TimeInterval = 5 * 60
    static let prefix = "ptc-backup-lock-"

    /// Whether `name` is a lock object's name.
    public static func isLockName(_ name: String) -> Bool { name.hasPrefix(prefix) && name.hasSuffix(".json") }

    private let key: String
    private let released = Locked(false)

    private init(key: String) { self.key = key }

    /// The lock objects this process holds, by folder, and how many ``RemoteLock`` values share each: within
    /// a process the lock is reentrant (an operation called by another shares its caller's lock).
    private static let held = Locked<[String: (holder: Holder, count: Int)]>([:])

    /// One lock object, refreshed by a thread of its own until ``end()``.
    private final class Holder: Sendable {
        let store: any RemoteStore
        let name: String
        let stop = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)

        init(store: any RemoteStore, name: String, record: Record, refreshInterval: TimeInterval) {
            self.store = store
            self.name = name
            // Refreshing: wakes when ended (the semaphore) or when the interval has passed.
            let thread = Thread { [store, name, stop, stopped] in
                var record = record
                while stop.wait(timeout: .now() + refreshInterval) == .timedOut {
                    record.refreshed = Date().timeIntervalSince1970
                    try? RemoteLock.write(record, as: name, to: store)
                }
                stopped.signal()
            }
            thread.start()
        }

        /// Stops refreshing and deletes the lock object.
        func end() {
            stop.signal()
            stopped.wait()
            try? Transfers.mapped { try store.delete(name) }
        }
    }

    /// Takes the lock on the folder `remote` names (the folder of an archive's URL).
    /// - Parameters:
    ///   - wait: how long to wait for a live lock another run holds (`--lock-wait`).
    ///   - staleAfter: a lock not refreshed for this long is taken over.
    ///   - refreshInterval: how often the lock object is written again while held.
    /// - Throws: ``BackupError`` `temporaryFailure` (75) naming the holder, or the store's failure.
    public static func acquire(_ remote: String, options: RemoteOptions, command: String, wait: Duration = .zero,
                               staleAfter: TimeInterval = RemoteLock.staleAfter,
                               refreshInterval: TimeInterval = RemoteLock.refreshInterval,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws(BackupError) -> RemoteLock {
        try BackupError.atBoundary("locking \(remote)") {
            let location = try RemoteLocation(parsing: remote, options: options, environment: environment)
            let key = "\(location.store)"
            let shared = held.withLock { held in
                guard var entry = held[key] else { return false }
                entry.count += 1
                held[key] = entry
                return true
            }
            if shared { return RemoteLock(key: key) }
            let store: any RemoteStore = RetryingStore(location.store, onRetry: options.onRetry)
            let host = FileSystem.hostName()
            let pid = getpid()
            let now = Date()
            let record = Record(pid: pid, host: host, since: Timestamp.iso8601(seconds: Int64(now.timeIntervalSince1970)),
                                refreshed: now.timeIntervalSince1970, command: command)
            let name = "\(prefix)\(host)-\(pid)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16)).json"
            let deadline = ContinuousClock.now + wait
            var pause = 0.5
            while true {
                var holder = try live(in: store, except: nil, staleAfter: staleAfter)
                if holder == nil {
                    writing.wait()
                    defer { writing.signal() }
                    // Tracked until held or deleted again: a write cut short by a signal may still have landed.
                    pending.withLock { $0[name] = store }
                    try write(record, as: name, to: store)
                    holder = try live(in: store, except: name, staleAfter: staleAfter)
                    if holder == nil {
                        let holder = Holder(store: store, name: name, record: record, refreshInterval: refreshInterval)
                        held.withLock { $0[key] = (holder, 1) }
                        _ = pending.withLock { $0.removeValue(forKey: name) }
                        return RemoteLock(key: key)
                    }
                    try? Transfers.mapped { try store.delete(name) }  // both created one: both back off
                    _ = pending.withLock { $0.removeValue(forKey: name) }
                }
                guard let holder, ContinuousClock.now < deadline else {
                    let who = holder.map { "by \($0.description)" } ?? "by another run"
                    let waited = wait > .zero ? " after waiting \(wait.components.seconds) s" : ""
                    throw BackupError(.temporaryFailure, "\(store) is in use \(who)\(waited); try again later, or pass --lock-wait AGE to wait")
                }
                // Another machine's lock can only be seen by looking again: polled, with jitter, up to the deadline.
                let left = deadline - ContinuousClock.now
                Thread.sleep(forTimeInterval: min(pause * Double.random(in: 0.75...1.25), Double(left.components.seconds) + 0.05))
                pause = min(pause * 2, 5)
            }
        }
    }

    /// Releases the lock: the last holder in this process stops refreshing and deletes the lock object.
    /// Safe to call twice.
    /// Ends every lock this process holds (from a signal handler, before the process exits), so that an
    /// interrupted run does not leave its lock objects for others to wait out.
    public static func releaseAll() {
        writing.wait() // never signalled again: the process is ending, no lock may be written after this
        let holders = held.withLock { held in
            let holders = held.values.map(\.holder)
            held.removeAll()
            return holders
        }
        for holder in holders { holder.end() }
        // And objects written but not yet held (a signal between the write and the check after it).
        let written: [(name: String, store: any RemoteStore)] = pending.withLock { pending in
            let all = pending.map { (name: $0.key, store: $0.value) }
            pending.removeAll()
            return all
        }
        for object in written {
            try? Transfers.mapped { try object.store.delete(object.name) }
        }
    }

    /// Lock objects written by ``acquire`` and not yet held or deleted again, for ``releaseAll()``.
    private static let pending = Locked<[String: any RemoteStore]>([:])
    /// Held while ``acquire`` writes a lock object and until it is held: ``releaseAll()`` waits for an
    /// upload in flight (a WebDAV PUT then MOVE could otherwise land after its delete), then keeps it.
    private static let writing = DispatchSemaphore(value: 1)

    public func release() {
        guard released.withLock({ done in let was = done; done = true; return !was }) else { return }
        let last: Holder? = Self.held.withLock { held in
            guard var entry = held[key] else { return nil }
            entry.count -= 1
            if entry.count == 0 { held[key] = nil; return entry.holder }
            held[key] = entry
            return nil
        }
        last?.end()
    }

    /// The first live lock in `store` other than `except`; stale ones, and those of this host's dead
    /// processes, are deleted on the way.
    private static func live(in store: any RemoteStore, except: String?, staleAfter: TimeInterval) throws -> Record? {
        let names = try Transfers.mapped { try store.list(prefix: prefix) }.map(\.name).filter { isLockName($0) && $0 != except }
        let host = FileSystem.hostName()
        for name in names {
            guard let record = try read(name, from: store) else { continue }  // gone meanwhile, or not ours to read
            let stale = Date().timeIntervalSince1970 - record.refreshed > staleAfter
            let dead = record.host == host && record.pid != getpid() && kill(record.pid, 0) != 0 && errno == ESRCH
            if stale || dead {
                try? Transfers.mapped { try store.delete(name) }
                continue
            }
            return record
        }
        return nil
    }

    private static func read(_ name: String, from store: any RemoteStore) throws -> Record? {
        let folder = try TemporaryFolder(in: FileManager.default.temporaryDirectory.path, prefix: "ptc-backup-lock")
        defer { withExtendedLifetime(folder) {} }
        let path = folder.file("lock.json")
        do {
            try store.get(name, to: path)
        } catch let error as StoreError where error.kind == .notFound {
            return nil
        } catch let error as StoreError {
            throw BackupError(error)
        }
        return try? JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private static func write(_ record: Record, as name: String, to store: any RemoteStore) throws {
        let folder = try TemporaryFolder(in: FileManager.default.temporaryDirectory.path, prefix: "ptc-backup-lock")
        defer { withExtendedLifetime(folder) {} }
        let path = folder.file("lock.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(record).write(to: URL(fileURLWithPath: path))
        try Transfers.mapped { try store.put(file: path, as: name) }
    }
}
