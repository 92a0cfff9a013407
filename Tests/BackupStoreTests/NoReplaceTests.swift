import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// `put(replacing: false)` leaves an object already under the name alone and says so (`cantCreate`):
/// WebDAV by `MOVE` with `Overwrite: F` (the server refuses with 412), a folder by checking before the rename.
/// S3 is not in the list: no condition on every server (callers check with `stat` first).
@Suite struct NoReplaceTests {
    @Test(arguments: [StoreKind.local, .rclone, .apacheBasic, .apacheDigest])
    func putWithoutReplacingKeepsWhatIsThere(_ kind: StoreKind) throws {
        let (store, keepAlive) = try kind.make()
        defer { withExtendedLifetime(keepAlive) {} }
        let dir = TemporaryDirectory("no-replace")
        let first = try dir.randomFile("first", bytes: 10_000)
        let second = try dir.randomFile("second", bytes: 12_000)
        try store.put(file: first, as: "a.tar.zst", replacing: false)
        do {
            try store.put(file: second, as: "a.tar.zst", replacing: false)
            Issue.record("a second put without replacing succeeded on \(kind)")
        } catch let error as StoreError {
            #expect(error.kind == .cantCreate, "\(error)")
        }
        #expect(try store.stat("a.tar.zst")?.size == 10_000)
        #expect(try store.leftovers().isEmpty)
        try store.put(file: second, as: "a.tar.zst", replacing: true)
        #expect(try store.stat("a.tar.zst")?.size == 12_000)
    }
}
