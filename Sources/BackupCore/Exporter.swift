import BackupArchive
import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The tool's name and version, as recorded in manifests.
public enum ToolVersion {
    public static let name = "ptc-backup"
    public static let version = "0.1.0"
}

/// What `export` should do.
public struct ExportOptions: Sendable {
    /// `--db`; nil to look in `PLANTOCODE_DB` and the default locations.
    public var databasePath: String?
    /// `--output`: a directory (existing, or ending in `/`) or an exact file name; nil for the current directory.
    public var output: String?
    public var selection = SessionSelection()
    /// The zstd level, 1...19.
    public var compressionLevel = 3
    /// zstd worker threads; the core count by default.
    public var threads = FileSystem.processorCount()
    /// How long to wait for a lock held by the app, in milliseconds.
    public var busyTimeout: Int32 = 5000
    /// Pages per online-backup step (progress granularity).
    public var pagesPerStep: Int32 = 8192
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    public var now = Date()
    public var host = FileSystem.hostName()

    public init() {}
}

/// The outcome of an export: the archive, or nothing when the selection matched no session.
public struct ExportResult: Sendable {
    public var archivePath: String?
    public var manifest: Manifest?
    public var bytes: Int64?
    /// SHA-256 of the archive file as written.
    public var sha256: String?
}

/// Snapshots a PlanToCode database and packs it into a `.tar.zst` archive.
public struct Exporter: Sendable {
    public var logger: Logger
    public var progress: ProgressHandler?

    public init(logger: Logger = Logger(label: "ptc-backup.export", factory: { _ in SwiftLogNoOpLogHandler() }),
                progress: ProgressHandler? = nil) {
        self.logger = logger
        self.progress = progress
    }

    /// Runs the export.
    /// - Throws: ``BackupError``. On failure nothing is left under the final name, and temporary files are removed.
    public func export(_ options: ExportOptions) throws -> ExportResult {
        guard (1...19).contains(options.compressionLevel) else {
            throw BackupError.usage("--level must be between 1 and 19 (got \(options.compressionLevel))")
        }
        let sourcePath = try DatabaseLocator(environment: options.environment).locate(explicit: options.databasePath)
        let kind: Manifest.Kind = options.selection.isEverything ? .full : .partial
        let finalPath = try Self.outputPath(options.output, host: options.host, now: options.now, kind: kind)
        let outputDirectory = (finalPath as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(outputDirectory.isEmpty ? "." : outputDirectory) else {
            throw BackupError(.cantCreate, "cannot write \(finalPath): the folder \(outputDirectory) does not exist")
        }
        guard access(outputDirectory.isEmpty ? "." : outputDirectory, W_OK) == 0 else {
            throw BackupError(.cantCreate, "cannot write \(finalPath): the folder \(outputDirectory) is not writable")
        }
        if FileSystem.exists(finalPath) {
            throw BackupError(.cantCreate, "cannot write \(finalPath): a file of that name already exists")
        }
        logger.info("exporting", metadata: ["db.path": "\(sourcePath)", "archive.path": "\(finalPath)", "archive.kind": "\(kind.rawValue)"])

        let snapshotter = Snapshotter(sourcePath: sourcePath, busyTimeout: options.busyTimeout,
                                      pagesPerStep: options.pagesPerStep, progress: progress)
        let source = try snapshotter.openSource()
        let snapshotPath = FileSystem.temporarySibling(of: finalPath, suffix: "snapshot")
        TemporaryFiles.shared.register(snapshotPath)
        defer { TemporaryFiles.shared.remove(snapshotPath) }

        var skippedTables: [String] = []
        var selectionRecord: Manifest.Selection?
        switch kind {
        case .full:
            try snapshotter.full(from: source, to: snapshotPath)
        case .partial:
            guard let result = try snapshotter.partial(from: source, selection: options.selection, now: options.now, to: snapshotPath) else {
                logger.info("nothing to export: no session matches the selection")
                return ExportResult()
            }
            skippedTables = result.skippedTables
            selectionRecord = Manifest.Selection(sessionIDs: options.selection.sessionIDs, projects: options.selection.projects,
                                                 olderThan: options.selection.olderThan?.text,
                                                 cutoff: options.selection.cutoff(now: options.now))
        }
        try? source.close()

        let manifest = try describe(snapshotPath: snapshotPath, sourcePath: sourcePath, kind: kind, options: options,
                                    selection: selectionRecord, skippedTables: skippedTables)
        let (bytes, sha256) = try pack(snapshotPath: snapshotPath, manifest: manifest, to: finalPath, options: options)
        logger.info("exported", metadata: ["archive.path": "\(finalPath)", "archive.bytes": "\(bytes)"])
        return ExportResult(archivePath: finalPath, manifest: manifest, bytes: bytes, sha256: sha256)
    }

    /// Builds the manifest from the snapshot itself: versions, row counts, sessions, and the
    /// database entry's size and SHA-256.
    private func describe(snapshotPath: String, sourcePath: String, kind: Manifest.Kind, options: ExportOptions,
                          selection: Manifest.Selection?, skippedTables: [String]) throws -> Manifest {
        let facts: DatabaseFacts, tables: [Manifest.Table], versions: (app: String?, schema: String?)
        let sessions: [Manifest.Session], pageSize: Int, pageCount: Int
        do {
            let snapshot = try Connection(path: snapshotPath, mode: .readOnly)
            facts = try DatabaseFacts(connection: snapshot)
            tables = try DatabaseFacts.rowCounts(snapshot, tables: facts.tables)
            versions = try DatabaseFacts.versionMarkers(snapshot, facts: facts)
            sessions = try DatabaseFacts.sessionSummaries(snapshot, facts: facts)
            pageSize = Int(try snapshot.scalar("PRAGMA page_size").int64 ?? 0)
            pageCount = Int(try snapshot.scalar("PRAGMA page_count").int64 ?? 0)
            try snapshot.close()
        } catch {
            throw BackupError.sqlite(error, "reading the snapshot", path: snapshotPath)
        }
        let size = FileSystem.size(of: snapshotPath) ?? 0
        let hasher = SHA256()
        var hashed: Int64 = 0
        try FileSystem.readChunks(snapshotPath, doing: "hashing the snapshot") { chunk in
            hasher.update(chunk)
            hashed += Int64(chunk.count)
            progress?(ProgressEvent(phase: .hash, done: hashed, total: size))
        }
        return Manifest(
            tool: .init(name: ToolVersion.name, version: ToolVersion.version),
            createdAt: Timestamp.iso8601(seconds: Int64(options.now.timeIntervalSince1970)),
            kind: kind,
            source: .init(host: options.host, databaseFile: (sourcePath as NSString).lastPathComponent,
                          appVersion: versions.app, schemaVersion: versions.schema,
                          sqliteVersion: Connection.libraryVersion, pageSize: pageSize, pageCount: pageCount),
            selection: selection, tables: tables, skippedTables: skippedTables, sessions: sessions,
            entries: [.init(path: Manifest.databaseEntryName, size: size, sha256: hasher.finalize())])
    }

    /// Writes manifest and snapshot into a temporary archive beside `finalPath`, syncs it, and
    /// publishes it under `finalPath`. Returns the archive's size and SHA-256.
    private func pack(snapshotPath: String, manifest: Manifest, to finalPath: String, options: ExportOptions) throws -> (Int64, String) {
        let temporaryPath = FileSystem.temporarySibling(of: finalPath, suffix: "tmp")
        let fd = try FileSystem.createExclusive(temporaryPath, doing: "creating the archive")
        TemporaryFiles.shared.register(temporaryPath)
        var published = false
        defer {
            if !published { TemporaryFiles.shared.remove(temporaryPath) }
        }
        let archiveHasher = SHA256()
        var archiveBytes: Int64 = 0
        do {
            defer { close(fd) }
            let mtime = Int64(options.now.timeIntervalSince1970)
            let writer = try ArchiveWriter(fileDescriptor: fd, compressionLevel: options.compressionLevel,
                                           threads: options.threads, context: temporaryPath) { bytes in
                archiveHasher.update(bytes)
                archiveBytes += Int64(bytes.count)
            }
            try writer.writeEntry(path: Manifest.entryName, contents: Array(try Self.encode(manifest)), modificationTime: mtime)
            let entry = manifest.entries[0]
            var packed: Int64 = 0
            try writer.writeEntry(path: entry.path, size: entry.size, modificationTime: mtime) { write in
                try FileSystem.readChunks(snapshotPath, doing: "packing the snapshot") { chunk in
                    try write(chunk)
                    packed += Int64(chunk.count)
                    progress?(ProgressEvent(phase: .pack, done: packed, total: entry.size))
                }
            }
            try writer.close()
            try FileSystem.fsync(fd, path: temporaryPath, doing: "syncing the archive")
        } catch let error as ArchiveError {
            throw BackupError.archive(error, "writing the archive", path: finalPath, writing: true)
        }
        try FileSystem.publish(temporaryPath, as: finalPath)
        published = true
        TemporaryFiles.shared.remove(temporaryPath)
        return (archiveBytes, archiveHasher.finalize())
    }

    /// The archive's final path: `--output FILE` as given, or the SPEC.md name in `--output DIR`
    /// (default: the current directory).
    static func outputPath(_ output: String?, host: String, now: Date, kind: Manifest.Kind) throws -> String {
        let name = "plantocode-\(host)-\(Timestamp.compact(now))-\(kind.rawValue).tar.zst"
        guard let output, !output.isEmpty else { return name }
        if output.hasSuffix("/") || FileSystem.isDirectory(output) {
            return (output as NSString).appendingPathComponent(name)
        }
        return output
    }

    static func encode(_ manifest: Manifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(manifest)
    }
}
