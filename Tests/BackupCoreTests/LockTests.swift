import BackupCore
import BackupTestSupport
import Foundation
import Testing

/// ``BackupLock`` within one process: reentrant, the lock file written and removed, failures classified.
/// (Contention between processes: EndToEndTests/LockCLITests.)
@Suite struct LockTests {
    @Test func theLockFileNamesTheHolderAndGoesOnRelease() throws {
        let dir = TemporaryDirectory("lock")
        let lock = try BackupLock.acquire([.folder(dir.path)], command: "export")
        let text = try String(contentsOfFile: dir.file(".ptc-backup.lock"), encoding: .utf8)
        let holder = try JSONDecoder().decode(LockHolder.self, from: Data(text.utf8))
        #expect(holder.pid == getpid())
        #expect(holder.command == "export")
        #expect(!holder.host.isEmpty && holder.since.hasSuffix("Z"))
        lock.release()
        lock.release()  // twice is harmless
        #expect(dir.contents() == [])
    }

    @Test func locksAreReentrantWithinAProcess() throws {
        let dir = TemporaryDirectory("lock-reentrant")
        let db = dir.file("appdata.db")
        let outer = try BackupLock.acquire([.database(db), .folder(dir.path)], command: "cleanup")
        let inner = try BackupLock.acquire([.folder(dir.path)], command: "export")
        inner.release()
        #expect(FileManager.default.fileExists(atPath: dir.file(".ptc-backup.lock")), "the outer holder still holds it")
        #expect(FileManager.default.fileExists(atPath: db + ".ptc-backup.lock"))
        outer.release()
        #expect(dir.contents() == [])
    }

    @Test func aFolderThatDoesNotExistCannotBeLocked() throws {
        let dir = TemporaryDirectory("lock-missing")
        #expect {
            _ = try BackupLock.acquire([.folder(dir.file("missing"))], command: "export")
        } throws: { error in
            (error as? BackupError)?.code == .cantCreate
        }
    }
}
