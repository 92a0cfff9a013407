import BackupSystem
import Foundation
import SystemPackage

/// Who holds a lock: what the holder writes into its lock file, and what a second run reports.
public struct LockHolder: Codable, Sendable, Equatable {
    public var pid: Int32
    public var host: String
    /// When the holder took the lock (ISO 8601, UTC).
    public var since: String
    /// The command that holds it (`export`, `import`, ...).
    public var command: String

    public var description: String { "\(command) (pid \(pid) on \(host), since \(since))" }
}

/// The advisory locks of the commands that write: one per database, one per output folder.
///
/// The one home of cross-process locking. Every operation that writes takes its locks first, with
/// ``acquire(_:command:wait:)``, and releases them with ``release()`` when done (`defer`):
/// - a database: `<db>.ptc-backup.lock` beside it (never the database file itself, and never an SQLite lock:
///   the app never waits on these);
/// - a folder: `.ptc-backup.lock` in it (hidden: no listing or prune ever sees it).
///
/// Locks are `flock(2)` (``LockFile``): the kernel drops them when the holder dies, so a lock left by a
/// killed run is simply taken over. Within one process they are reentrant (an operation that calls another,
/// such as cleanup's export, shares the locks its caller holds).
public final class BackupLock: Sendable {
    /// What is locked.
    public enum Resource: Sendable, Hashable {
        /// A database file (locked through a lock file beside it).
        case database(String)
        /// A folder archives are written to or removed from.
        case folder(String)

        /// The lock file's path, with the folder resolved (symbolic links, `.`), so that two spellings of one
        /// place share a lock.
        var lockPath: String {
            switch self {
            case .database(let path):
                let url = URL(fileURLWithPath: path)
                let folder = url.deletingLastPathComponent().resolvingSymlinksInPath().path
                return folder + "/" + url.lastPathComponent + ".ptc-backup.lock"
            case .folder(let path):
                return URL(fileURLWithPath: path).resolvingSymlinksInPath().path + "/.ptc-backup.lock"
            }
        }

        var what: String {
            switch self {
            case .database(let path): "the database \(path)"
            case .folder(let path): "the folder \(path)"
            }
        }
    }

    private let paths: [String]
    private let released = Locked(false)

    private init(paths: [String]) { self.paths = paths }

    /// Locks held by this process: the lock file and how many ``BackupLock`` values share it.
    private static let held = Locked<[String: (file: LockFile, count: Int)]>([:])

    /// Takes the locks on `resources`, in a fixed order (so two runs never wait on each other crosswise).
    /// - Parameters:
    ///   - command: the command taking them, written into the lock file for a second run to report.
    ///   - wait: how long to wait for a lock another process holds (`--lock-wait`); zero fails at once.
    /// - Throws: ``BackupError`` `temporaryFailure` (75) naming the holder (pid, host, since) when a lock is
    ///   still held after `wait`; the locks taken before it are released.
    public static func acquire(_ resources: [Resource], command: String, wait: Duration = .zero) throws(BackupError) -> BackupLock {
        let deadline = ContinuousClock.now + wait
        var taken: [String] = []
        let ordered = Array(Set(resources.map { ($0.lockPath, $0.what) }.map { Pair(path: $0.0, what: $0.1) })).sorted { $0.path < $1.path }
        for resource in ordered {
            do {
                try take(resource.path, what: resource.what, command: command, deadline: deadline, wait: wait)
            } catch {
                BackupLock(paths: taken).release()
                throw error
            }
            taken.append(resource.path)
        }
        return BackupLock(paths: taken)
    }

    private struct Pair: Hashable { var path: String; var what: String }

    /// Releases the locks (the last holder in this process removes the lock file). Safe to call twice.
    public func release() {
        guard released.withLock({ done in let was = done; done = true; return !was }) else { return }
        for path in paths {
            let last: LockFile? = Self.held.withLock { held in
                guard var entry = held[path] else { return nil }
                entry.count -= 1
                if entry.count == 0 { held[path] = nil; return entry.file }
                held[path] = entry
                return nil
            }
            last?.release()
        }
    }

    /// The holder recorded in the lock file at `path`, if it can be read.
    static func holder(at path: String) -> LockHolder? {
        guard let text = LockFile.record(at: path) else { return nil }
        return try? JSONDecoder().decode(LockHolder.self, from: Data(text.utf8))
    }

    private static func take(_ path: String, what: String, command: String, deadline: ContinuousClock.Instant,
                             wait: Duration) throws(BackupError) {
        let mine = LockHolder(pid: getpid(), host: FileSystem.hostName(),
                                since: Timestamp.iso8601(seconds: Int64(Date().timeIntervalSince1970)), command: command)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let record = (try? encoder.encode(mine)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // Another process's lock can only be noticed by trying again: there is no event to wait on across
        // processes, so this polls (every 50 ms at first, at most every 500 ms), bounded by `deadline`.
        var pause = Duration.milliseconds(50)
        while true {
            let result: Result<Bool, Errno> = held.withLock { held in
                if var entry = held[path] {
                    entry.count += 1
                    held[path] = entry
                    return .success(true)
                }
                do throws(Errno) {
                    guard let file = try LockFile.tryLock(path, record: record) else { return .success(false) }
                    held[path] = (file, 1)
                    return .success(true)
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .success(true):
                return
            case .success(false):
                let now = ContinuousClock.now
                guard now < deadline else {
                    let who = holder(at: path).map { "by \($0.description)" } ?? "by another run"
                    let waited = wait > .zero ? " after waiting \(Int(seconds(wait).rounded())) s" : ""
                    throw BackupError(.temporaryFailure, "\(what) is in use \(who)\(waited); try again later, or pass --lock-wait AGE to wait (lock file \(path))")
                }
                Thread.sleep(forTimeInterval: Self.seconds(min(pause, deadline - now)))
                pause = min(pause * 2, .milliseconds(500))
            case .failure(let error):
                throw BackupError.posix(error, "locking \(what)", path: path, creating: true)
            }
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
