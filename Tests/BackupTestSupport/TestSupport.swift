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
                                orphans: Int = 0, rollbackJournal: Bool = false) throws -> SampleGenerator.Summary {
        var options = SampleGenerator.Options()
        options.version = version
        options.era = era
        options.orphans = orphans
        options.targetBytes = bytes
        options.seed = seed
        options.walOnlyCommits = walOnlyCommits
        options.maxTerminalLog = maxTerminalLog
        let summary = try SampleGenerator.generate(at: dir.file(name), options: options)
        if rollbackJournal {
            // Rollback-journal mode: the file's bytes are all of its content (for byte-for-byte checks).
            let db = try Connection(path: summary.path, mode: .readWrite)
            try db.execute("PRAGMA journal_mode=DELETE")
            try db.close()
        }
        return summary
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
    /// `formatOne`: the body in one frame and no seek table, as ptc-backup wrote format 1 archives.
    public static func write(_ entries: [(name: String, bytes: [UInt8])], to path: String, formatOne: Bool = false) throws {
        guard let last = entries.last else { throw TestFailure("an archive needs at least one entry") }
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let mtime: Int64 = 1_700_000_000
        let head = try TarLayout.head(
            files: entries.dropLast().map { (TarLayout.Entry(path: $0.name, size: Int64($0.bytes.count), modificationTime: mtime), $0.bytes) },
            body: TarLayout.Entry(path: last.name, size: Int64(last.bytes.count), modificationTime: mtime))
        let writer = StreamedArchiveWriter(fileDescriptor: fd, compressionLevel: 1, threads: 1,
                                           headReservation: try StreamedArchiveWriter.reservation(for: head, level: 1), context: path)
        if formatOne { writer.frameSize = Int(UInt32.max) }
        try writer.writeBody(size: Int64(last.bytes.count)) { write in try last.bytes.withUnsafeBytes { try write($0) } }
        guard try writer.writeHead(head) else { throw TestFailure("the head did not fit") }
        if formatOne { try fd.resize(to: writer.totalBytes - Int64(writer.seekTableBytes)) }
    }
}
