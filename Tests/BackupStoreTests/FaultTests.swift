import BackupDigest
import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// Uploads and downloads through a proxy that resets or stalls connections in mid-transfer (S3's own
/// fault tests, with parts and resumed downloads, are in S3Tests).
@Suite struct FaultTests {
    @Test func anUploadCutInTheMiddleIsRetriedAndLeavesNoHalfObject() throws {
        // No authentication: each upload attempt is one request on one connection.
        let server = try RcloneWebDAV(authenticate: false)
        let proxy = try FaultyProxy(to: server.port, cutAfter: 400_000, faultyConnections: 2)
        let direct = WebDAVStore(baseURL: server.baseURL + "/f", user: nil, password: nil)
        let viaProxy = WebDAVStore(baseURL: "http://127.0.0.1:\(proxy.port)/f", user: nil, password: nil)
        let local = TemporaryDirectory("fault")
        try local.randomFile("a", bytes: 2_000_000)
        // The folder exists first, so each upload attempt is exactly one PUT.
        try direct.put(file: try local.randomFile("seed", bytes: 1), as: "seed")

        // Without retries the cut shows, and nothing is left under the final name.
        let error = #expect(throws: StoreError.self) { try viaProxy.put(file: local.file("a"), as: "a.tar.zst") }
        #expect(error?.kind == .unavailable)
        #expect(try direct.stat("a.tar.zst") == nil)

        // With retries it goes through on a later connection.
        let retries = RetryCounter()
        var retrying = RetryingStore(viaProxy) { _ in retries.add() }
        retrying.backoff.firstDelay = 0.05
        try retrying.put(file: local.file("a"), as: "a.tar.zst")
        #expect(retries.count == 1)
        #expect(try direct.stat("a.tar.zst")?.size == 2_000_000)
        try direct.get("a.tar.zst", to: local.file("b"))
        #expect(try SHA256.hex(ofFile: local.file("b")) == (try SHA256.hex(ofFile: local.file("a"))))
        #expect(try direct.list(prefix: "").map(\.name) == ["a.tar.zst", "seed"])
        // Whatever a cut upload left is under a hidden temporary name (rclone keeps partial uploads, and can
        // finish writing one after our clean-up DELETE), never under an archive's name.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: server.root.file("f")).sorted()
        #expect(leftovers.filter { !$0.hasPrefix(".") } == ["a.tar.zst", "seed"], "\(leftovers)")
        #expect(leftovers.filter { $0.hasPrefix(".") }.allSatisfy { $0.hasPrefix(".a.tar.zst.part-") }, "\(leftovers)")
    }

    /// An upload whose connection stops moving is given up after the stall timeout and sent again; a
    /// download likewise.
    @Test func stalledTransfersAreGivenUpAndRetried() throws {
        let server = try RcloneWebDAV(authenticate: false)
        let local = TemporaryDirectory("stall")
        try local.randomFile("a", bytes: 3_000_000)
        let direct = WebDAVStore(baseURL: server.baseURL + "/s", user: nil, password: nil)
        try direct.put(file: local.file("a"), as: "seed.tar.zst")   // the folder exists: one PUT per attempt

        for direction in [FaultyProxy.Direction.upload, .download] {
            let proxy = try FaultyProxy(to: server.port, cutAfter: 1_000_000, faultyConnections: 1, direction: direction,
                                        fault: .stall(seconds: 5))
            var viaProxy = WebDAVStore(baseURL: "http://127.0.0.1:\(proxy.port)/s", user: nil, password: nil)
            viaProxy.stallTimeout = 1
            let retries = RetryCounter()
            var retrying = RetryingStore(viaProxy) { _ in retries.add() }
            retrying.backoff.firstDelay = 0.05
            let started = Date()
            if direction == .upload {
                try retrying.put(file: local.file("a"), as: "a.tar.zst")
                #expect(try direct.stat("a.tar.zst")?.size == 3_000_000)
            } else {
                try retrying.get("seed.tar.zst", to: local.file("back"))
                #expect(try SHA256.hex(ofFile: local.file("back")) == (try SHA256.hex(ofFile: local.file("a"))))
            }
            #expect(retries.count == 1, "\(direction)")
            #expect(Date().timeIntervalSince(started) < 5, "\(direction): the stall was waited out instead of given up")
        }
    }

    @Test func retriesStopWithinTheirBounds() throws {
        let store = WebDAVStore(baseURL: "http://127.0.0.1:9/x", user: nil, password: nil)
        let retries = RetryCounter()
        var retrying = RetryingStore(store) { _ in retries.add() }
        retrying.backoff.attempts = 3
        retrying.backoff.firstDelay = 0.01
        let started = Date()
        #expect(throws: StoreError.self) { try retrying.list(prefix: "") }
        #expect(retries.count == 2)
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
