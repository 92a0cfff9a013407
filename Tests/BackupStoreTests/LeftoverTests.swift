import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// What interrupted uploads leave in a store, found and removed: hidden `.NAME.part-*` objects on a folder
/// and WebDAV, incomplete multipart uploads on S3 (left by boto3, another client).
@Suite struct LeftoverTests {
    @Test func temporaryNames() {
        let made = TemporaryName.make(for: "a.tar.zst")
        #expect(made.hasPrefix(".a.tar.zst.part-"))
        #expect(TemporaryName.isTemporary(made))
        #expect(TemporaryName.isTemporary(".plantocode-h-20261231T000000Z-full.tar.zst.part-4294967295"))
        for name in ["a.tar.zst.part-1f", ".part-1f", ".a.tar.zst.part-", ".a.tar.zst.part-xyz", ".a.tar.zst.tmp-12-ab",
                     ".a.tar.zst.part-12/x", "plantocode-h-20261231T000000Z-full.tar.zst"] {
            #expect(!TemporaryName.isTemporary(name), "\(name)")
        }
    }

    /// Leaves `name` holding `bytes` bytes in the store as a crashed upload would: a file in the folder, a
    /// PUT by curl (another client) on WebDAV.
    static func leave(_ name: String, bytes: Int, in store: any RemoteStore, _ kind: StoreKind, dir: TemporaryDirectory) throws {
        let file = dir.file("leftover")
        try Data(repeating: 7, count: bytes).write(to: URL(fileURLWithPath: file))
        let credentials: String
        switch kind {
        case .local:
            try FileManager.default.copyItem(atPath: file, toPath: "\(store)/\(name)")
            return
        case .rclone: credentials = try RcloneWebDAV.shared().user + ":" + RcloneWebDAV.shared().password
        case .apacheBasic: credentials = try ApacheWebDAV.shared(.basic).user + ":" + ApacheWebDAV.shared(.basic).password
        default: throw TestFailure("not a folder store")
        }
        let result = try Binary.run("/usr/bin/curl", ["-sS", "-f", "-u", credentials, "-T", file, "\(store)/\(name)"])
        guard result.status == 0 else { throw TestFailure("curl could not PUT \(name): \(result.stderr)") }
    }

    @Test(arguments: [StoreKind.local, .rclone, .apacheBasic])
    func hiddenUploadsAreLeftoversNotObjects(_ kind: StoreKind) throws {
        let (store, keepAlive) = try kind.make()
        let dir = TemporaryDirectory("leftovers")
        try withExtendedLifetime((keepAlive, dir)) {
            try store.put(file: try dir.randomFile("a", bytes: 1000), as: "a.tar.zst")
            #expect(try store.leftovers() == [])
            let hidden = ".b.tar.zst.part-3f2a"
            try Self.leave(hidden, bytes: 4321, in: store, kind, dir: dir)
            let leftovers = try store.leftovers()
            #expect(leftovers.map(\.name) == [hidden])
            #expect(leftovers.first?.bytes == 4321)
            #expect(abs((leftovers.first?.since ?? .distantPast).timeIntervalSinceNow) < 300)
            #expect(try store.list(prefix: "").map(\.name) == ["a.tar.zst"])
            try store.remove(try #require(leftovers.first))
            #expect(try store.leftovers() == [])
            #expect(try store.list(prefix: "").map(\.name) == ["a.tar.zst"])
            try store.remove(try #require(leftovers.first))   // gone already: not an error
        }
    }

    @Test(arguments: S3TestServer.Kind.allCases)
    func incompleteMultipartUploadsAreLeftovers(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let configuration = TestStores.s3(server, label: "leftover", prefix: "nightly")
        let store = try S3Store(configuration)
        let dir = TemporaryDirectory("s3-leftovers")
        try withExtendedLifetime(dir) {
            try store.put(file: try dir.randomFile("a", bytes: 1000), as: "a.tar.zst")
            let prefix = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
            let id = try server.leaveIncompleteUpload(bucket: configuration.bucket, key: prefix + "b.tar.zst", bytes: 123_456)
            let leftovers = try store.leftovers()
            #expect(leftovers.count == 1)
            let leftover = try #require(leftovers.first)
            #expect(leftover.name == "b.tar.zst")
            #expect(leftover.kind == .multipartUpload(id: id))
            #expect(leftover.bytes == 123_456)
            // moto answers every upload's Initiated with a fixed 2010 date; radosgw with the real one.
            #expect(leftover.since != nil)
            if kind == .radosgw { #expect(abs((leftover.since ?? .distantPast).timeIntervalSinceNow) < 300) }
            try store.remove(leftover)
            #expect(try store.leftovers() == [])
            #expect(try store.list(prefix: "").map(\.name) == ["a.tar.zst"])
        }
    }
}
