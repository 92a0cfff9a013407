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
    /// A cleanup archive's jobs (kind `cleanup`) instead of sessions; `selection` is then ignored.
    public var jobs: JobSelection?
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
    /// Full exports compress pages while the backup copies them (see `exportFull`); false takes the
    /// snapshot first and packs it afterwards, as partial exports always do.
    public var packWhileCopying = true
    /// `--lock-wait`: how long to wait for the locks another run holds (``BackupLock``).
    public var lockWait: Duration = .zero
    /// Lock the output folder; false for a staging folder that unrelated runs share, such as `$TMPDIR` before
    /// an upload (unique names suffice there, and the remote is what the caller locks).
    public var lockOutputFolder = true
    /// `--encrypt-to`/`--encrypt-to-file`/`--passphrase`: the archive is age-encrypted as it is written
    /// (`.tar.zst.age`); nil for a plain `.tar.zst`.
    public var encryption: ArchiveEncryption?
    /// `--redact-env`: secret-looking values of `terminal_sessions.environment_vars` replaced in the snapshot.
    public var redactEnvironment = false

    public init() {}
}

/// The outcome of an export: the archive, or nothing when the selection matched no session.
public struct ExportResult: Sendable {
    /// The database read.
    public var database: String?
    public var archivePath: String?
    public var manifest: Manifest?
    public var bytes: Int64?
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
    public func export(_ options: ExportOptions) throws(BackupError) -> ExportResult {
        try BackupError.atBoundary("exporting") {
            guard (1...19).contains(options.compressionLevel) else {
                throw BackupError.usage("--level must be between 1 and 19 (got \(options.compressionLevel))")
            }
            let sourcePath = try DatabaseLocator(environment: options.environment).locate(explicit: options.databasePath)
            let kind: Manifest.Kind = options.jobs != nil ? .cleanup : options.selection.isEverything ? .full : .partial
            let destination = ArchiveDestination(output: options.output, host: options.host, now: options.now, kind: kind,
                                                 encrypted: options.encryption != nil)
            let finalPath = destination.path
            let outputDirectory = (finalPath as NSString).deletingLastPathComponent.isEmpty ? "." : (finalPath as NSString).deletingLastPathComponent
            // A folder named as one (`backups/`) is created when missing, private to this user, as `run`
            // creates its output folder; a file name in a missing folder stays an error (a typo, likely).
            if let output = options.output, output.hasSuffix("/"), !FileSystem.exists(outputDirectory) {
                try FileSystem.makeFolder(outputDirectory, doing: "creating the output folder")
            }
            guard FileSystem.isDirectory(outputDirectory) else {
                if FileSystem.exists(outputDirectory) {
                    throw BackupError(.cantCreate, "cannot write \(finalPath): \(outputDirectory) is a file, not a folder")
                }
                throw BackupError(.cantCreate, "cannot write \(finalPath): the folder \(outputDirectory) does not exist")
            }
            // Before any work: a new file needs write and search permission on its folder (root has them
            // unless the file system is read-only, which access() reports too).
            guard access(outputDirectory, W_OK | X_OK) == 0 else {
                let reason = errno == EROFS ? "is on a read-only file system" : "is not writable"
                throw BackupError(.cantCreate, "cannot write \(finalPath): the folder \(outputDirectory) \(reason)")
            }
            let lock = try options.lockOutputFolder ? BackupLock.acquire([.folder(outputDirectory)], command: "export", wait: options.lockWait) : nil
            defer { lock?.release() }
            if FileSystem.exists(finalPath) {
                throw destination.taken
            }
            logger.info("exporting", metadata: ["db.path": "\(sourcePath)", "archive.path": "\(finalPath)", "archive.kind": "\(kind.rawValue)"])

            // What killed or crashed runs left beside the archive (hidden temporary archives and snapshots).
            TemporaryFiles.removeStale(in: outputDirectory)
            var snapshotter = Snapshotter(sourcePath: sourcePath, busyTimeout: options.busyTimeout,
                                          pagesPerStep: options.pagesPerStep, progress: progress)
            let source = try snapshotter.openSource()
            // The snapshot: SQLite writes it (the backup, or the partial copy); it never outlives the export.
            let snapshot = try TemporaryFile(beside: finalPath, suffix: "snapshot", doing: "creating the snapshot")
            let snapshotPath = snapshot.path

            let clock = ContinuousClock()
            var phaseStart = clock.now
            func phaseDone(_ name: String) {
                logger.debug("phase done", metadata: ["phase": "\(name)", "phase.seconds": "\(clock.now - phaseStart)",
                                                      "process.peakRSS": "\(FileSystem.peakResidentKiB() ?? 0) KiB"])
                phaseStart = clock.now
            }
            let manifest: Manifest, bytes: Int64, publishedPath: String
            switch kind {
            case .full:
                // One pass (compressing while copying) when the snapshot's writes can be watched; else the
                // snapshot first, packed afterwards. Decided here, before any work.
                let pageSize = try Self.pageSize(of: source, path: sourcePath)
                // Redaction changes the snapshot after the copy, so it needs the two-step way.
                if options.packWhileCopying && !options.redactEnvironment, let streaming = StreamingSetup.make(snapshotPath: snapshotPath, pageSize: pageSize) {
                    (manifest, bytes, publishedPath) = try exportFull(source: source, snapshotter: snapshotter, sourcePath: sourcePath,
                                                                      snapshot: snapshot, streaming: streaming, destination: destination,
                                                                      options: options)
                } else {
                    do {
                        try source.withReadTransaction { try snapshotter.full(from: source, to: snapshotPath) }
                    } catch {
                        throw BackupError.sqlite(error, "taking the snapshot", path: sourcePath)
                    }
                    let redaction = options.redactEnvironment ? try EnvironmentRedaction.apply(toSnapshot: snapshotPath) : nil
                    var draft = try describeSnapshot(snapshotPath, sourcePath: sourcePath, kind: kind, options: options,
                                                     selection: nil, skippedTables: [])
                    draft.redactedEnvironment = redaction
                    (manifest, bytes, publishedPath) = try pack(snapshotPath: snapshotPath, sourcePath: sourcePath, manifest: draft, to: destination, options: options)
                }
                try? source.close()
                phaseDone("snapshot and pack")
            case .partial, .cleanup: // selected rows, copied into the snapshot, then packed
                let chosen = try Self.resolvingPrefixes(options.selection, in: source, path: sourcePath)
                let rows: Snapshotter.RowSelection = options.jobs.map { .jobs($0) } ?? .sessions(chosen, now: options.now)
                progress?(.started(.snapshot))
                guard let result = try snapshotter.partial(from: source, selection: rows, to: snapshotPath) else {
                    logger.info("nothing to export: nothing matches the selection")
                    withExtendedLifetime(snapshot) {}
                    return ExportResult(database: sourcePath)
                }
                try? source.close()
                phaseDone("snapshot")
                var selection = Manifest.Selection(sessionIDs: chosen.sessionIDs, projects: options.selection.projects,
                                                   olderThan: options.selection.olderThan?.text,
                                                   cutoff: options.selection.cutoff(now: options.now))
                if let jobs = options.jobs {
                    selection = Manifest.Selection(sessionIDs: [], projects: [], olderThan: nil, cutoff: nil)
                    selection.cleanupRule = jobs.rule.description + (jobs.ahead.map { "; archived \($0.text) ahead" } ?? "")
                    selection.jobs = result.selected
                }
                let redaction = options.redactEnvironment ? try EnvironmentRedaction.apply(toSnapshot: snapshotPath) : nil
                var draft = try describeSnapshot(snapshotPath, sourcePath: sourcePath, kind: kind, options: options,
                                                 selection: selection, skippedTables: result.skippedTables)
                draft.redactedEnvironment = redaction
                (manifest, bytes, publishedPath) = try pack(snapshotPath: snapshotPath, sourcePath: sourcePath, manifest: draft, to: destination, options: options)
                phaseDone("pack")
            }
            withExtendedLifetime(snapshot) {}
            logger.info("exported", metadata: ["archive.path": "\(publishedPath)", "archive.bytes": "\(bytes)"])
            return ExportResult(database: sourcePath, archivePath: publishedPath, manifest: manifest, bytes: bytes)
        }
    }

    /// `selection` with session id prefixes replaced by the ids they name in `source`.
    /// - Throws: ``BackupError`` `usage` for an ambiguous prefix.
    static func resolvingPrefixes(_ selection: SessionSelection, in source: Connection, path: String) throws -> SessionSelection {
        do {
            return try selection.resolvingPrefixes(in: source)
        } catch let error as SQLiteError {
            throw BackupError.sqlite(error, "reading the session ids", path: path)
        }
    }

    /// The source's page size (fixed while the app runs in WAL mode).
    static func pageSize(of source: Connection, path: String) throws -> Int64 {
        do {
            return try source.scalar("PRAGMA page_size").int64 ?? 4096
        } catch {
            throw BackupError.sqlite(error, "reading the database", path: path)
        }
    }

    /// Builds the manifest from `db` (the snapshot, or the source inside the read transaction the
    /// snapshot is taken in): versions, row counts, sessions, page size and count. The database entry's
    /// size is page size × page count; its SHA-256 is a placeholder until the bytes have been read.
    func describe(_ db: Connection, sourcePath: String, kind: Manifest.Kind, options: ExportOptions,
                  selection: Manifest.Selection?, skippedTables: [String]) throws(SQLiteError) -> Manifest {
        let facts = try DatabaseFacts(connection: db)
        let tables = try DatabaseFacts.rowCounts(db, tables: facts.tables)
        let versions = try DatabaseFacts.versionMarkers(db, facts: facts)
        let sessions = try DatabaseFacts.sessionSummaries(db, facts: facts)
        let pageSize = Int(try db.scalar("PRAGMA page_size").int64 ?? 0)
        let pageCount = Int(try db.scalar("PRAGMA page_count").int64 ?? 0)
        let violations = try DatabaseFacts.foreignKeyViolations(db)
        var manifest = Manifest(
            tool: .init(name: ToolVersion.name, version: ToolVersion.version),
            createdAt: Timestamp.iso8601(seconds: Int64(options.now.timeIntervalSince1970)),
            kind: kind,
            source: .init(host: options.host, databaseFile: (sourcePath as NSString).lastPathComponent,
                          appVersion: versions.app, schemaVersion: versions.schema,
                          sqliteVersion: Connection.libraryVersion, pageSize: pageSize, pageCount: pageCount),
            selection: selection, tables: tables, skippedTables: skippedTables, sessions: sessions,
            entries: [.init(path: Manifest.databaseEntryName, size: Int64(pageSize) * Int64(pageCount), sha256: Self.placeholderDigest)])
        manifest.foreignKeyViolations = violations.isEmpty ? nil : violations
        let secrets = try EnvironmentRedaction.countSecrets(db)
        manifest.secretEnvironmentVariables = secrets > 0 ? secrets : nil
        return manifest
    }

    /// ``describe(_:sourcePath:kind:options:selection:skippedTables:)`` of a finished snapshot file.
    private func describeSnapshot(_ snapshotPath: String, sourcePath: String, kind: Manifest.Kind, options: ExportOptions,
                                  selection: Manifest.Selection?, skippedTables: [String]) throws -> Manifest {
        do {
            let snapshot = try Connection(path: snapshotPath, mode: .readOnly)
            let manifest = try describe(snapshot, sourcePath: sourcePath, kind: kind, options: options,
                                        selection: selection, skippedTables: skippedTables)
            try snapshot.close()
            return manifest
        } catch {
            throw BackupError.sqlite(error, "reading the snapshot", path: snapshotPath)
        }
    }

    /// Stands in for the database's SHA-256 until it is known: same length, similar bytes.
    static let placeholderDigest = "5f0e1c2d3b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

    /// Packs the snapshot into a temporary archive beside `destination.path`, syncs it, and publishes it
    /// under that name (or the next free one, see ``ArchiveDestination``). One read of the snapshot feeds both the SHA-256 and the compressor, while
    /// `quick_check` runs on another thread; the manifest, written last, still comes first in the archive
    /// (see ``StreamedArchiveWriter``). Nothing is published unless `quick_check` passed.
    /// Returns the manifest with the database's digest, the archive's size, and where it was published.
    func pack(snapshotPath: String, sourcePath: String, manifest draft: Manifest, to destination: ArchiveDestination,
              options: ExportOptions) throws -> (Manifest, Int64, String) {
        let finalPath = destination.path
        let mtime = Int64(options.now.timeIntervalSince1970)
        let databaseSize = draft.entries[0].size
        func head(_ manifest: Manifest) throws -> [UInt8] { try headBytes(manifest, bodyEntrySize: databaseSize, mtime: mtime) }

        // Three readers of the snapshot at once: quick_check, the SHA-256, and the compressor (whose
        // zstd workers have threads of their own).
        let checks = SnapshotChecks(snapshotPath: snapshotPath, sourcePath: sourcePath)
        defer { _ = try? checks.wait() }

        let archive = try TemporaryFile(beside: finalPath, suffix: "tmp", doing: "creating the archive")
        var manifest = draft
        var archiveBytes: Int64 = 0
        do {
            var reservation = try StreamedArchiveWriter.reservation(for: try head(draft), level: options.compressionLevel)
            while true {
                let (writer, encrypting) = try StreamedArchiveWriter.make(archive: archive, encryption: options.encryption,
                                                                          level: options.compressionLevel, threads: options.threads,
                                                                          reservation: reservation)
                let progress = self.progress
                try writer.writeBody(size: databaseSize, compressed: progress.map { report in
                    { report(ProgressEvent(phase: .compress, done: $0, total: databaseSize)) }
                }) { write in
                    try FileSystem.readChunks(snapshotPath, doing: "packing the snapshot") { chunk in
                        try write(chunk)
                    }
                }
                progress?(.started(.check))
                manifest.entries[0].sha256 = try checks.wait()
                if try writer.writeHead(try head(manifest)) {
                    archiveBytes = try encrypting?.finish() ?? writer.totalBytes
                    break
                }
                // The real manifest compressed worse than the draft: once more with room to spare.
                reservation = ZstdCompressor.bound(try head(manifest).count) + 8
                try archive.truncate(doing: "rewriting the archive")
            }
            try archive.sync(doing: "syncing the archive")
        } catch let error as ArchiveError {
            throw BackupError.archive(error, "writing the archive", path: finalPath, writing: true)
        }
        let publishedPath = try archive.commit(to: destination)
        return (manifest, archiveBytes, publishedPath)
    }

    static func encode(_ manifest: Manifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(manifest)
    }
}

/// Where an export publishes its archive: `--output FILE` exactly, or the SPEC.md name (``ArchiveName``)
/// in `--output DIR` (default: the current directory). A name in a folder that is taken, by an export of
/// the same second, gets `-2`, `-3`, … (up to -999) before `.tar.zst`, both when the export starts and
/// when it publishes; an explicit file that exists stays an error.
struct ArchiveDestination: Sendable {
    /// Every name the archive may take, in order: one for `--output FILE`.
    let names: [String]
    /// The first name free when the export started (the first of all when none was). Temporary files go
    /// beside it.
    let path: String

    init(output: String?, host: String, now: Date, kind: Manifest.Kind, encrypted: Bool = false) {
        let name = ArchiveName(host: host, time: Timestamp.compact(now), kind: kind.rawValue, encrypted: encrypted)
        let folder: String?
        if let output, !output.isEmpty {
            folder = output.hasSuffix("/") || FileSystem.isDirectory(output) ? output : nil
        } else {
            folder = ""
        }
        if let folder {
            names = (1...999).map { sequence in
                var numbered = name
                numbered.sequence = sequence
                return folder.isEmpty ? numbered.fileName : (folder as NSString).appendingPathComponent(numbered.fileName)
            }
        } else {
            names = [output ?? name.fileName]
        }
        path = names.first { !FileSystem.exists($0) } ?? names[0]
    }

    /// Every name is taken: ``BackupError`` `cantCreate`.
    var taken: BackupError { FileSystem.allTaken(names) }

    /// Publishes `temporary` under `path`, or the next free name if another process took it since.
    /// Returns the name used.
    func publish(_ temporary: String) throws -> String {
        try FileSystem.publish(temporary, asFirstFreeOf: Array(names.drop { $0 != path }))
    }
}
