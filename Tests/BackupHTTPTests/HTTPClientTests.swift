import BackupDigest
import BackupHTTP
import BackupTestSupport
import Foundation
import SystemPackage
import Testing

/// The curl wrapper against a real WebDAV server (rclone serve webdav on 127.0.0.1).
@Suite struct HTTPClientTests {
    let client = HTTPClient()

    func request(_ method: String, _ server: RcloneWebDAV, _ path: String) -> HTTPRequest {
        var request = HTTPRequest(method: method, url: server.baseURL + path)
        request.credentials = (server.user, server.password)
        return request
    }

    @Test func streamsAFileUpAndDownAndDeletesIt() throws {
        let server = try RcloneWebDAV()
        let local = TemporaryDirectory("http")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try local.randomFile("up.bin", bytes: 3_000_000))))

        var put = request("PUT", server, "/up.bin")
        put.body = .file(path: local.file("up.bin"), size: Int64(bytes.count))
        let stored = try client.perform(put)
        #expect(stored.isSuccess, "PUT answered \(stored.status)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.root.file("up.bin"))) == Data(bytes))

        let head = try client.perform(request("HEAD", server, "/up.bin"))
        #expect(head.status == 200 && head.headers["content-length"] == String(bytes.count))

        var get = request("GET", server, "/up.bin")
        get.downloadPath = local.file("down.bin")
        #expect(try client.perform(get).status == 200)
        #expect(SHA256.hex(of: try [UInt8](Data(contentsOf: URL(fileURLWithPath: local.file("down.bin"))))) == SHA256.hex(of: bytes))

        var propfind = request("PROPFIND", server, "/")
        propfind.headers = [("Depth", "1"), ("Content-Type", "application/xml")]
        propfind.body = .bytes(Array(#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>"#.utf8))
        let listing = try client.perform(propfind)
        #expect(listing.status == 207)
        #expect(String(decoding: listing.body, as: UTF8.self).contains("up.bin"))

        #expect(try client.perform(request("DELETE", server, "/up.bin")).isSuccess)
        #expect(try client.perform(request("GET", server, "/up.bin")).status == 404)
    }

    @Test func aWrongPasswordIsAStatusNotAnError() throws {
        let server = try RcloneWebDAV()
        var get = HTTPRequest(method: "GET", url: server.baseURL + "/")
        get.credentials = (server.user, "wrong")
        #expect(try client.perform(get).status == 401)
    }

    @Test func aRefusedConnectionIsATransientErrorWithoutCredentials() throws {
        var get = HTTPRequest(method: "GET", url: "http://user:hunter2@127.0.0.1:9/")
        get.connectTimeout = 2
        let error = #expect(throws: CurlError.self) { try client.perform(get) }
        #expect(error?.isTransient == true)
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.url == "http://127.0.0.1:9/")
    }

    /// The descriptors of this process open on `path` (from /proc/self/fd).
    static func descriptors(on path: String) -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path }
    }

    /// A body that cannot be sent (the file opened, then a range that cannot be read) fails before any
    /// connection, and the file is closed again.
    @Test func aFailedUploadLeavesNoDescriptorOpen() throws {
        let local = TemporaryDirectory("http-fd")
        let path = try local.randomFile("up.bin", bytes: 1000)
        var put = HTTPRequest(method: "PUT", url: "http://127.0.0.1:9/up.bin")
        put.body = .file(path: path, offset: -1, size: 10)
        let error = #expect(throws: CurlError.self) { try client.perform(put) }
        #expect(error?.fileError?.errno == .invalidArgument)
        #expect(error?.fileError?.path == path)
        #expect(Self.descriptors(on: path).isEmpty)
    }

    /// Local file failures carry the system's error and the path: a folder that is not there, a full disk.
    @Test func localFileErrorsSayWhichFileAndWhy() throws {
        let local = TemporaryDirectory("http-local")
        var get = HTTPRequest(method: "GET", url: "http://127.0.0.1:9/")
        get.downloadPath = local.file("missing/down.bin")
        let missing = #expect(throws: CurlError.self) { try client.perform(get) }
        #expect(missing?.fileError?.errno == .noSuchFileOrDirectory)
        #expect(missing?.description.contains(local.file("missing/down.bin")) == true)

        let server = try RcloneWebDAV()
        let path = try local.randomFile("up.bin", bytes: 100_000)
        var put = request("PUT", server, "/up.bin")
        put.body = .file(path: path, size: 100_000)
        #expect(try client.perform(put).isSuccess)
        var full = request("GET", server, "/up.bin")
        full.downloadPath = "/dev/full"
        let noSpace = #expect(throws: CurlError.self) { try client.perform(full) }
        #expect(noSpace?.fileError?.errno == .noSpace)
        #expect(noSpace?.fileError?.path == "/dev/full")
    }
}
