import Foundation

/// Real S3 servers on 127.0.0.1, one of each kind per test process (radosgw takes ~12 s to start), started
/// on first use by the scripts in Scripts/servers and stopped when the process exits (``Reaper``); moto
/// through ``LocalServer``.
/// - moto in IAM mode: signatures and keys are checked.
/// - Ceph radosgw (one monitor, one memstore OSD): also checks every body against its x-amz-content-sha256.
public final class S3TestServer: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case moto, radosgw }

    public let kind: Kind
    public let port: Int
    public let accessKey: String
    public let secretKey: String
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private static let motoServer = Result { try S3TestServer(starting: .moto) }
    private static let radosgwServer = Result { try S3TestServer(starting: .radosgw) }

    /// The process's server of `kind`, started on first use.
    public static func shared(_ kind: Kind) throws -> S3TestServer {
        switch kind {
        case .moto: return try motoServer.get()
        case .radosgw: return try radosgwServer.get()
        }
    }

    /// A bucket name no other test uses.
    public static func uniqueBucket(_ label: String) -> String {
        "ptc-\(label)-\(UInt32.random(in: 0...UInt32.max))".lowercased()
    }

    private init(starting kind: Kind) throws {
        self.kind = kind
        let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("ptc-\(kind.rawValue)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let scripts = (Binary.packageRoot as NSString).appendingPathComponent("Scripts/servers")
        if kind == .moto {
            // The script writes "KEY SECRET" once it has made them, with the server's first calls.
            let keyFile = { (port: Int) in (folder as NSString).appendingPathComponent("keys-\(port)") }
            let (port, _) = try LocalServer.start("the moto S3 server", timeout: 60, launch: { port in
                try Binary.start("/usr/bin/env", ["python3", scripts + "/moto", "\(port)", keyFile(port)])
            }, ready: { port in Self.keys(in: keyFile(port)) != nil })
            let keys = Self.keys(in: keyFile(port))!
            (self.port, accessKey, secretKey) = (port, keys.access, keys.secret)
            return
        }
        // radosgw: the script starts the cluster and returns once the gateway answers (or fails).
        var lastError = ""
        for _ in 0..<3 {
            let port = Int.random(in: 20_000...45_000)
            let access = "PTCRGW\(UInt32.random(in: 100_000...999_999))", secret = "rgw-secret-\(UUID().uuidString)"
            let dir = (folder as NSString).appendingPathComponent("cluster-\(port)")
            let result = try Binary.run("/bin/bash", [scripts + "/radosgw", dir, "\(port)", access, secret], timeout: 180)
            Reaper.watch(((try? String(contentsOfFile: dir + "/pids", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) })
            if result.status == 0 {
                (self.port, accessKey, secretKey) = (port, access, secret)
                return
            }
            lastError = result.stderr
        }
        throw TestFailure("the radosgw S3 server did not start: \(lastError.suffix(2000))")
    }

    /// Starts a multipart upload of `key` in `bucket` (which must exist) and sends one part of `bytes` bytes,
    /// never completing it: what a killed upload leaves. Done with boto3, another client than ours.
    /// Returns the upload id.
    @discardableResult
    public func leaveIncompleteUpload(bucket: String, key: String, bytes: Int) throws -> String {
        let script = """
            import os, sys, boto3
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                              aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"])
            upload = s3.create_multipart_upload(Bucket=sys.argv[2], Key=sys.argv[3])["UploadId"]
            s3.upload_part(Bucket=sys.argv[2], Key=sys.argv[3], UploadId=upload, PartNumber=1, Body=os.urandom(int(sys.argv[4])))
            print(upload)
            """
        var environment = ProcessInfo.processInfo.environment
        environment["KEY"] = accessKey
        environment["SECRET"] = secretKey
        let result = try Binary.run("/usr/bin/env", ["python3", "-c", script, endpoint, bucket, key, "\(bytes)"], environment: environment)
        guard result.status == 0 else { throw TestFailure("boto3 could not leave an incomplete upload: \(result.stderr.suffix(2000))") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Uploads the file at `path` as `key` in `bucket` (created when missing) with boto3, another client
    /// than ours, with `sha256` as its `x-amz-meta-sha256` (nil: no such metadata, as other tools upload).
    public func putObject(bucket: String, key: String, file path: String, sha256: String?) throws {
        let script = """
            import os, sys, boto3
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                              aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"])
            try:
                s3.create_bucket(Bucket=sys.argv[2])
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
            extra = {"Metadata": {"sha256": sys.argv[5]}} if sys.argv[5] else {}
            with open(sys.argv[4], "rb") as body:
                s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=body, **extra)
            """
        var environment = ProcessInfo.processInfo.environment
        environment["KEY"] = accessKey
        environment["SECRET"] = secretKey
        let result = try Binary.run("/usr/bin/env", ["python3", "-c", script, endpoint, bucket, key, path, sha256 ?? ""], environment: environment)
        guard result.status == 0 else { throw TestFailure("boto3 could not upload \(key): \(result.stderr.suffix(2000))") }
    }

    /// The keys the moto script wrote to `file`, once it has.
    private static func keys(in file: String) -> (access: String, secret: String)? {
        let parts = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }
}
