import Foundation

/// Real S3 servers on 127.0.0.1, one of each kind per test process (radosgw takes ~12 s to start), started
/// on first use by the scripts in Scripts/servers and stopped when the process exits (``Reaper``).
/// - moto in IAM mode: signatures and keys are checked.
/// - Ceph radosgw (one monitor, one memstore OSD): also checks every body against its x-amz-content-sha256.
public final class S3TestServer: @unchecked Sendable {
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
        var lastError = ""
        for _ in 0..<3 {
            let port = Int.random(in: 20_000...45_000)
            switch kind {
            case .moto:
                let keyFile = (folder as NSString).appendingPathComponent("keys-\(port)")
                let process = try Binary.start("/usr/bin/env", ["python3", scripts + "/moto", "\(port)", keyFile])
                Self.register(pid: process.pid)
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline && process.process.isRunning {
                    if let text = try? String(contentsOfFile: keyFile, encoding: .utf8) {
                        let parts = text.split(whereSeparator: \.isWhitespace).map(String.init)
                        if parts.count == 2 {
                            (self.port, accessKey, secretKey) = (port, parts[0], parts[1])
                            return
                        }
                    }
                    usleep(100_000)
                }
                process.kill(SIGKILL)
                lastError = (try? process.wait(timeout: 5).stderr) ?? ""
            case .radosgw:
                let access = "PTCRGW\(UInt32.random(in: 100_000...999_999))", secret = "rgw-secret-\(UUID().uuidString)"
                let dir = (folder as NSString).appendingPathComponent("cluster-\(port)")
                let result = try Binary.run("/bin/bash", [scripts + "/radosgw", dir, "\(port)", access, secret], timeout: 180)
                for pid in ((try? String(contentsOfFile: dir + "/pids", encoding: .utf8)) ?? "").split(separator: "\n") {
                    if let pid = Int32(pid) { Self.register(pid: pid) }
                }
                if result.status == 0 {
                    (self.port, accessKey, secretKey) = (port, access, secret)
                    return
                }
                lastError = result.stderr
            }
        }
        throw TestFailure("the \(kind.rawValue) S3 server did not start: \(lastError.suffix(2000))")
    }

    /// Has `pids` stopped when this test process exits, however it ends (static servers never deinit).
    static func register(pid: Int32) {
        Reaper.watch([pid])
    }
}

/// Stops servers a test run started once the run's process is gone, even when it was killed
/// (Scripts/servers/reaper polls this process and then kills them).
public enum Reaper {
    public static func watch(_ pids: [Int32]) {
        let script = (Binary.packageRoot as NSString).appendingPathComponent("Scripts/servers/reaper")
        _ = try? Binary.start("/bin/bash", [script, "\(getpid())"] + pids.map { "\($0)" })
    }
}
