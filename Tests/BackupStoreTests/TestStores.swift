import BackupStore
import BackupTestSupport
import Foundation
import Synchronization
import Testing

/// Every store the contract runs over, each made fresh for one test: a local folder, WebDAV on rclone and on
/// Apache (Basic and Digest), S3 on moto and radosgw. Servers are shared by the test process; each store
/// gets a collection or bucket of its own.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case local, rclone, apacheBasic, apacheDigest, moto, radosgw

    var testDescription: String { rawValue }

    /// A new, empty store of this kind, and what keeps its backing alive while it is used.
    func make() throws -> (store: any RemoteStore, keepAlive: AnyObject) {
        // Two levels that do not exist yet: the first upload creates them.
        let folder = "/\(S3TestServer.uniqueBucket("contract"))/laptop"
        switch self {
        case .local:
            let dir = TemporaryDirectory("store")
            return (LocalStore(root: dir.file("archives")), dir)
        case .rclone:
            let server = try RcloneWebDAV.shared()
            return (WebDAVStore(baseURL: server.baseURL + folder, user: server.user, password: server.password), server)
        case .apacheBasic, .apacheDigest:
            let server = try ApacheWebDAV.shared(self == .apacheBasic ? .basic : .digest)
            return (WebDAVStore(baseURL: server.baseURL + folder, user: server.user, password: server.password), server)
        case .moto, .radosgw:
            let server = try S3TestServer.shared(self == .moto ? .moto : .radosgw)
            // moto 5.2 in IAM mode rejects the signature of any request with a '/' in its query (boto3's too),
            // so its contract runs without a key prefix; radosgw covers prefixes.
            return (try S3Store(TestStores.s3(server, label: "contract", prefix: "backups/laptop")), server)
        }
    }
}

enum TestStores {
    /// A configuration for `server`: a bucket that does not exist yet (the first upload makes it), the
    /// prefix (none on moto, see ``StoreKind/make()``), quick retries.
    static func s3(_ server: S3TestServer, label: String, prefix: String) -> S3Store.Configuration {
        var configuration = S3Store.Configuration(endpoint: server.endpoint, bucket: S3TestServer.uniqueBucket(label),
                                                  prefix: server.kind == .moto ? "" : prefix,
                                                  credentials: S3Credentials(accessKey: server.accessKey, secretKey: server.secretKey))
        configuration.backoff.firstDelay = 0.05
        return configuration
    }
}

/// Counts the retries a store reports.
final class RetryCounter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
