import BackupCore
import BackupStore
import BackupTestSupport
import Foundation
import Synchronization
import Testing

/// What a user can get wrong with a local folder store reaches them as a ``StoreError`` of the right kind,
/// naming the path, and through BackupCore's one table as the right exit code (never 70).
@Suite struct LocalStoreErrorTests {
    /// The exit code BackupCore gives the error `body` throws.
    static func exitCode(_ body: () throws -> Void) -> (code: Int32?, error: StoreError?) {
        do {
            try body()
            return (nil, nil)
        } catch let error as StoreError {
            return (BackupError(error).code.rawValue, error)
        } catch {
            Issue.record("not a StoreError: \(type(of: error)) \(error)")
            return (nil, nil)
        }
    }

    @Test func anObjectFromAFolderThatIsNotThereIsNoInput() throws {
        let dir = TemporaryDirectory("local-missing")
        let store = LocalStore(root: dir.file("not-there"))
        let (code, error) = Self.exitCode { try store.get("a.tar.zst", to: dir.file("back")) }
        #expect(code == 66)
        #expect(error?.kind == .notFound)
        #expect(error?.location == dir.file("not-there/a.tar.zst"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("back")))
    }

    /// A store folder that cannot be created (a regular file stands where a folder should be: ENOTDIR,
    /// which root meets too), and a download into a folder that is not there.
    @Test func aFolderThatCannotBeMadeCannotCreate() throws {
        let dir = TemporaryDirectory("local-enotdir")
        let source = try dir.randomFile("a", bytes: 1000)
        let store = LocalStore(root: source + "/archives")
        let (code, error) = Self.exitCode { try store.put(file: source, as: "a.tar.zst") }
        #expect(code == 73)
        #expect(error?.kind == .cantCreate)
        #expect(error?.errno == .notDirectory)
        #expect(error?.message.contains(source + "/archives") == true, "\(error.map { "\($0)" } ?? "")")

        let good = LocalStore(root: dir.file("archives"))
        try good.put(file: source, as: "a.tar.zst")
        let (getCode, getError) = Self.exitCode { try good.get("a.tar.zst", to: dir.file("missing/back")) }
        #expect(getCode == 73)
        #expect(getError?.location == dir.file("missing/back"))
    }

    /// Reading what we may not read is a permission problem (77); writing where we may not write cannot
    /// create (73). Root ignores file modes, so as root the calls run as `nobody` (``Unprivileged``).
    @Test func permissionDeniedIsNoPermissionOrCannotCreate() throws {
        let dir = TemporaryDirectory("local-perm")
        chmod(dir.path, 0o755)
        let source = try dir.randomFile("a", bytes: 1000)
        chmod(source, 0o644)
        let store = LocalStore(root: dir.file("archives"))
        try store.put(file: source, as: "a.tar.zst")
        chmod(dir.file("archives"), 0o755)
        chmod(dir.file("archives/a.tar.zst"), 0o000)
        let unreadable = Unprivileged.run { Self.exitCode { try store.get("a.tar.zst", to: "/dev/null") } }
        #expect(unreadable.code == 77)
        #expect(unreadable.error?.kind == .refused)
        #expect(unreadable.error?.location == dir.file("archives/a.tar.zst"))

        chmod(dir.file("archives"), 0o555)
        defer { chmod(dir.file("archives"), 0o755) }
        let unwritable = Unprivileged.run { Self.exitCode { try store.put(file: source, as: "b.tar.zst") } }
        #expect(unwritable.code == 73)
        #expect(unwritable.error?.kind == .cantCreate)
        #expect(unwritable.error?.errno == .permissionDenied)
    }

    /// A full disk (/dev/full answers every write with ENOSPC) is an I/O error (74).
    @Test func aFullDiskIsAnIOError() throws {
        let dir = TemporaryDirectory("local-full")
        let store = LocalStore(root: dir.file("archives"))
        try store.put(file: try dir.randomFile("a", bytes: 100_000), as: "a.tar.zst")
        let (code, error) = Self.exitCode { try store.get("a.tar.zst", to: "/dev/full") }
        #expect(code == 74)
        #expect(error?.kind == .noSpace)
        #expect(error?.location == "/dev/full")
    }
}

/// Runs a body as a user file modes apply to: as itself when not root; as root, on a thread of its own
/// whose filesystem user and group are `nobody` (setfsuid and setfsgid change only the calling thread, so
/// the rest of the test process keeps root).
enum Unprivileged {
    /// Where the thread leaves its result.
    private final class Outcome<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    /// glibc's `setfsuid`/`setfsgid` (declared in <sys/fsuid.h>, which the Glibc module does not import).
    private static func call(_ name: String, _ id: UInt32) {
        guard let symbol = dlsym(nil, name) else { fatalError("no \(name) in libc") }
        _ = unsafeBitCast(symbol, to: (@convention(c) (UInt32) -> Int32).self)(id)
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        guard getuid() == 0 else { return body() }
        let outcome = Outcome<T>()
        Thread {
            call("setfsgid", 65534)
            call("setfsuid", 65534)
            let value = body()
            call("setfsuid", 0)
            call("setfsgid", 0)
            outcome.value.withLock { $0 = value }
            outcome.done.signal()
        }.start()
        outcome.done.wait()
        return outcome.value.withLock { $0! }
    }
}
