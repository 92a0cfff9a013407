import BackupDigest
import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// SigV4 against AWS's published example, and what only S3 has (multipart, paging, resumed downloads,
/// metadata checks) against moto (IAM mode) and Ceph radosgw on 127.0.0.1.
@Suite struct S3Tests {
    /// AWS's example "GET Object" (sig-v4-header-based-auth): the signature is theirs.
    @Test func signsAWSExampleRequest() {
        let signer = SigV4(credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                           region: "us-east-1")
        let headers = signer.sign(method: "GET", path: "/test.txt", query: [],
                                  headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                                  payloadHash: SigV4.emptyPayload, date: Date(timeIntervalSince1970: 1_369_353_600))
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
        #expect(!headers.contains { $0.0 == "x-amz-security-token" })
    }

    @Test func canonicalQueryIsSortedAndEncoded() {
        #expect(SigV4.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(SigV4.canonicalQuery([("prefix", "a b/c+d"), ("list-type", "2"), ("continuation-token", "x=y")])
                == "continuation-token=x%3Dy&list-type=2&prefix=a%20b%2Fc%2Bd")
        #expect(SigV4.encode("dir/é~.tar.zst", keepSlash: true) == "dir/%C3%A9~.tar.zst")
    }

    @Test func sessionTokenIsSentAndSigned() {
        let signer = SigV4(credentials: S3Credentials(accessKey: "A", secretKey: "S", sessionToken: "TOKEN"), region: "eu-west-1")
        let headers = signer.sign(method: "GET", path: "/", query: [], headers: [("Host", "h")], payloadHash: SigV4.emptyPayload)
        #expect(headers.contains { $0 == ("x-amz-security-token", "TOKEN") })
        #expect(headers.first { $0.0 == "Authorization" }?.1.contains("x-amz-security-token") == true)
    }

    /// ``TestStores/s3(_:label:prefix:)`` with small parts: files above 8 MiB go up in 8 MiB parts.
    static func configuration(_ server: S3TestServer, label: String) -> S3Store.Configuration {
        var configuration = TestStores.s3(server, label: label, prefix: "nightly")
        configuration.multipartThreshold = 8 << 20
        configuration.partSize = 8 << 20
        return configuration
    }

    @Test(arguments: S3TestServer.Kind.allCases)
    func multipartUploadRoundTrips(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let store = try S3Store(Self.configuration(server, label: "multi"))
        let dir = TemporaryDirectory("s3")
        let path = try dir.randomFile("big", bytes: 20 * 1_048_576 + 1234)      // three parts
        try store.put(file: path, as: "big.tar.zst")
        let info = try #require(try store.stat("big.tar.zst"))
        #expect(info.size == 20 * 1_048_576 + 1234)
        #expect(info.sha256 == (try SHA256.hex(ofFile: path)))
        try store.get("big.tar.zst", to: dir.file("back"))
        #expect(try SHA256.hex(ofFile: dir.file("back")) == info.sha256)
        #expect(try store.incompleteUploads().isEmpty)
    }

    @Test(arguments: S3TestServer.Kind.allCases)
    func listingsArePaged(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        var configuration = Self.configuration(server, label: "pages")
        configuration.listPageSize = 2
        let store = try S3Store(configuration)
        let dir = TemporaryDirectory("pages")
        let path = try dir.randomFile("small", bytes: 100)
        let names = (1...5).map { "plantocode-\($0).tar.zst" }
        for name in names { try store.put(file: path, as: name) }
        #expect(try store.list(prefix: "plantocode-").map(\.name) == names)
        #expect(try store.list(prefix: "plantocode-3").map(\.name) == ["plantocode-3.tar.zst"])
    }

    @Test(arguments: S3TestServer.Kind.allCases)
    func wrongSecretIsRefusedWithTheServersReason(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        var configuration = Self.configuration(server, label: "refused")
        configuration.credentials.secretKey = "not-the-Secret-42"
        let store = try S3Store(configuration)
        let error = #expect(throws: StoreError.self) { try store.list(prefix: "") }
        #expect(error?.kind == .refused)
        #expect(error?.message.contains("SignatureDoesNotMatch") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.message.contains("not-the-Secret-42") == false)
    }

    /// radosgw serves `bucket.localhost` (rgw dns name = localhost), and curl resolves *.localhost to loopback.
    @Test func virtualHostAddressing() throws {
        let server = try S3TestServer.shared(.radosgw)
        var configuration = Self.configuration(server, label: "vhost")
        configuration.endpoint = "http://localhost:\(server.port)"
        configuration.addressing = .virtualHost
        let store = try S3Store(configuration)
        let dir = TemporaryDirectory("vhost")
        let path = try dir.randomFile("f", bytes: 5000)
        try store.put(file: path, as: "v.tar.zst")
        #expect(try store.list(prefix: "").map(\.name) == ["v.tar.zst"])
    }

    /// A part cut off in mid-upload is sent again on its own; the upload completes.
    @Test(arguments: S3TestServer.Kind.allCases)
    func cutPartsAreRetried(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let proxy = try FaultyProxy(to: server.port, cutAfter: 3 << 20, faultyConnections: 2)
        var configuration = Self.configuration(server, label: "cut")
        configuration.endpoint = "http://127.0.0.1:\(proxy.port)"
        let retries = RetryCounter()
        configuration.backoff.onRetry = { _ in retries.add() }
        let store = try S3Store(configuration)
        let dir = TemporaryDirectory("cut")
        let path = try dir.randomFile("big", bytes: 17 * 1_048_576)
        try store.put(file: path, as: "cut.tar.zst")
        #expect(retries.count == 2)
        #expect(try store.stat("cut.tar.zst")?.sha256 == (try SHA256.hex(ofFile: path)))
        #expect(try store.incompleteUploads().isEmpty)
    }

    /// When a part keeps failing, the upload is aborted: no parts and no object remain.
    @Test(arguments: S3TestServer.Kind.allCases)
    func failedMultipartUploadLeavesNothing(kind: S3TestServer.Kind) throws {
        let server = try S3TestServer.shared(kind)
        let direct = try S3Store(Self.configuration(server, label: "abort"))
        let proxy = try FaultyProxy(to: server.port, cutAfter: 1 << 20, faultyConnections: 1000)
        var configuration = direct.configuration
        configuration.endpoint = "http://127.0.0.1:\(proxy.port)"
        configuration.backoff.attempts = 3
        let store = try S3Store(configuration)
        let dir = TemporaryDirectory("abort")
        let path = try dir.randomFile("big", bytes: 17 * 1_048_576)
        let error = #expect(throws: StoreError.self) { try store.put(file: path, as: "abort.tar.zst") }
        #expect(error?.exhausted == true)
        #expect(try direct.stat("abort.tar.zst") == nil)
        #expect(try direct.incompleteUploads().isEmpty)
    }

    /// A download cut off (reset, or stalled past the stall timeout) goes on with Range from where it
    /// stopped, and the result matches the SHA-256 the object carries.
    @Test(arguments: [FaultyProxy.Fault.reset, .stall(seconds: 4)])
    func downloadsResumeAfterACut(fault: FaultyProxy.Fault) throws {
        let server = try S3TestServer.shared(.radosgw)
        let direct = try S3Store(Self.configuration(server, label: "resume"))
        let dir = TemporaryDirectory("resume")
        let path = try dir.randomFile("f", bytes: 6 * 1_048_576)
        try direct.put(file: path, as: "r.tar.zst")
        let proxy = try FaultyProxy(to: server.port, cutAfter: 2 << 20, faultyConnections: 1, direction: .download, fault: fault)
        var configuration = direct.configuration
        configuration.endpoint = "http://127.0.0.1:\(proxy.port)"
        configuration.stallTimeout = 1
        let retries = RetryCounter()
        configuration.backoff.onRetry = { _ in retries.add() }
        let store = try S3Store(configuration)
        try store.get("r.tar.zst", to: dir.file("back"))
        #expect(retries.count == 1)
        #expect(try SHA256.hex(ofFile: dir.file("back")) == (try SHA256.hex(ofFile: path)))
    }
}
