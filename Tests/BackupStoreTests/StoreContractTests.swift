import BackupDigest
import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// One contract for every store, one test per behaviour, each run over every kind of store (``StoreKind``):
/// a local folder, WebDAV and S3 against real servers on 127.0.0.1.
@Suite struct StoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func anEmptyStoreHoldsNothing(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        #expect(try store.list(prefix: "") == [])                       // nothing yet, not even the folder
        #expect(try store.stat("a.tar.zst") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func storedObjectsAreListedByPrefixWithTheirSizes(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        let local = TemporaryDirectory("contract")
        let path = try local.randomFile("a", bytes: 2_500_000)
        try store.put(file: path, as: "plantocode-a.tar.zst")           // creates missing collections
        let path2 = try local.randomFile("b", bytes: 1000)
        try store.put(file: path2, as: "plantocode-b.tar.zst")
        try store.put(file: path2, as: "other.txt")

        #expect(try store.stat("plantocode-a.tar.zst")?.size == 2_500_000)
        let listed = try store.list(prefix: "plantocode-")
        #expect(listed.map(\.name) == ["plantocode-a.tar.zst", "plantocode-b.tar.zst"])
        #expect(listed.map(\.size) == [2_500_000, 1000])
    }

    @Test(arguments: StoreKind.allCases)
    func anObjectComesBackAsItWasStored(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        let local = TemporaryDirectory("contract")
        let path = try local.randomFile("a", bytes: 2_500_000)
        try store.put(file: path, as: "plantocode-a.tar.zst")
        try store.get("plantocode-a.tar.zst", to: local.file("back"))
        #expect(try SHA256.hex(ofFile: local.file("back")) == (try SHA256.hex(ofFile: path)))
    }

    /// Replacing keeps one object; nothing temporary is left visible.
    @Test(arguments: StoreKind.allCases)
    func replacingKeepsOneObjectAndNoTemporaries(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        let local = TemporaryDirectory("contract")
        let path = try local.randomFile("a", bytes: 2_500_000)
        let path2 = try local.randomFile("b", bytes: 1000)
        try store.put(file: path, as: "plantocode-a.tar.zst")
        try store.put(file: path2, as: "plantocode-b.tar.zst")
        try store.put(file: path2, as: "other.txt")

        try store.put(file: path2, as: "plantocode-a.tar.zst")
        #expect(try store.stat("plantocode-a.tar.zst")?.size == 1000)
        #expect(try store.list(prefix: "").map(\.name) == ["other.txt", "plantocode-a.tar.zst", "plantocode-b.tar.zst"])
    }

    @Test(arguments: StoreKind.allCases)
    func deletingRemovesAndMayBeRepeated(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        let local = TemporaryDirectory("contract")
        try store.put(file: try local.randomFile("a", bytes: 1000), as: "plantocode-a.tar.zst")
        try store.delete("plantocode-a.tar.zst")
        try store.delete("plantocode-a.tar.zst")                         // twice is fine
        #expect(try store.stat("plantocode-a.tar.zst") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func gettingWhatIsNotThereIsNotFound(kind: StoreKind) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        let local = TemporaryDirectory("contract")
        try store.put(file: try local.randomFile("a", bytes: 1000), as: "plantocode-b.tar.zst")  // the folder exists
        let missing = #expect(throws: StoreError.self) { try store.get("plantocode-a.tar.zst", to: local.file("none")) }
        #expect(missing?.kind == .notFound)
        #expect(!FileManager.default.fileExists(atPath: local.file("none")))
    }

    @Test(arguments: StoreKind.allCases, ["", "a/b", "..", ".hidden"])
    func refusesNamesThatAreNotOneComponent(kind: StoreKind, name: String) throws {
        let (store, keep) = try kind.make()
        defer { withExtendedLifetime(keep) {} }
        #expect(throws: StoreError.self) { try store.stat(name) }
    }

    @Test func webDAVCredentialsRefusedAreSaidSo() throws {
        let server = try RcloneWebDAV.shared()
        let store = WebDAVStore(baseURL: server.baseURL + "/x", user: server.user, password: "wrong")
        let error = #expect(throws: StoreError.self) { try store.list(prefix: "") }
        #expect(error?.kind == .refused)
        #expect(error?.description.contains("wrong") == false)
    }

    /// Against a Digest server the archive travels once: the scheme is learned first, so curl probes with
    /// an empty body instead of sending the whole file unauthenticated and then again.
    @Test func digestUploadsSendTheBodyOnce() throws {
        let server = try ApacheWebDAV.shared(.digest)
        let proxy = try FaultyProxy(to: server.port, cutAfter: Int.max, faultyConnections: 0)
        let store = WebDAVStore(baseURL: "http://127.0.0.1:\(proxy.port)/\(S3TestServer.uniqueBucket("digest"))", user: server.user, password: server.password)
        let local = TemporaryDirectory("digest")
        try store.put(file: try local.randomFile("seed", bytes: 10), as: "seed.tar.zst")  // the collection exists from here on
        let before = proxy.bytesFromClients
        let path = try local.randomFile("a", bytes: 3_000_000)
        try store.put(file: path, as: "a.tar.zst")
        #expect(try store.stat("a.tar.zst")?.size == 3_000_000)
        let sent = proxy.bytesFromClients - before
        #expect(sent < 3_000_000 + 50_000, "\(sent) bytes sent for one upload of 3000000")
    }
}
