import BackupArchive
import BackupModel
import BackupSQLite
import Foundation

/// What an export would do, found without doing it (`export --dry-run`).
public struct ExportPlan: Sendable {
    /// The database that would be read.
    public var database: String
    public var kind: Manifest.Kind
    /// The manifest the archive would carry (rows per table, sessions), or nil when nothing matches.
    public var manifest: Manifest?
    /// The database entry's size (pages × page size) and, compressed at the chosen level, about how
    /// large the archive would be: a sample of the pages is compressed to find the ratio.
    public var databaseBytes: Int64
    public var estimatedBytes: Int64
}

extension Exporter {
    /// Plans an export: what it would hold and about how large it would be. Nothing is written beside the
    /// database or in the output folder, and no lock is taken. A full export is described from the database
    /// in one read transaction; a partial one is copied as the export would copy it, into a private folder in
    /// `$TMPDIR` removed before returning (its rows are what the archive would hold).
    /// - Throws: ``BackupError``, as ``export(_:)`` would for the database and the selection.
    public func plan(_ options: ExportOptions) throws(BackupError) -> ExportPlan {
        try BackupError.atBoundary("planning the export") {
            let sourcePath = try DatabaseLocator(environment: options.environment).locate(explicit: options.databasePath)
            let kind: Manifest.Kind = options.selection.isEverything ? .full : .partial
            var snapshotter = Snapshotter(sourcePath: sourcePath, busyTimeout: options.busyTimeout,
                                          pagesPerStep: options.pagesPerStep, progress: nil)
            let source = try snapshotter.openSource()
            defer { try? source.close() }
            guard kind == .partial else {
                let manifest = try source.withReadTransaction {
                    try describe(source, sourcePath: sourcePath, kind: .full, options: options, selection: nil, skippedTables: [])
                }
                return estimate(sourcePath, manifest: manifest, kind: kind, database: sourcePath, options: options)
            }
            let chosen = try Self.resolvingPrefixes(options.selection, in: source, path: sourcePath)
            let folder = try TemporaryFolder(in: FileManager.default.temporaryDirectory.path, prefix: "ptc-backup-dry-run")
            return try withExtendedLifetime(folder) {
                let snapshotPath = folder.file(Manifest.databaseEntryName)
                guard let result = try snapshotter.partial(from: source, selection: .sessions(chosen, now: options.now), to: snapshotPath) else {
                    return ExportPlan(database: sourcePath, kind: kind, manifest: nil, databaseBytes: 0, estimatedBytes: 0)
                }
                let selection = Manifest.Selection(sessionIDs: chosen.sessionIDs, projects: chosen.projects,
                                                   olderThan: chosen.olderThan?.text, cutoff: chosen.cutoff(now: options.now))
                let snapshot = try Connection(path: snapshotPath, mode: .readOnly)
                let manifest = try describe(snapshot, sourcePath: sourcePath, kind: kind, options: options, selection: selection,
                                            skippedTables: result.skippedTables)
                try snapshot.close()
                return estimate(snapshotPath, manifest: manifest, kind: kind, database: sourcePath, options: options)
            }
        }
    }

    /// The plan with the archive's size estimated from `file`: up to 16 slices of 256 KiB spread over it,
    /// compressed as one stream at the export's level, give the ratio applied to the whole.
    private func estimate(_ file: String, manifest: Manifest, kind: Manifest.Kind, database: String, options: ExportOptions) -> ExportPlan {
        let total = manifest.entries[0].size
        var sampled: Int64 = 0, compressed: Int64 = 0
        if total > 0, let input = try? FileSystem.openForReading(file, doing: "sampling the database"),
           let compressor = try? ZstdCompressor(level: options.compressionLevel, workers: 1, name: file) {
            defer { try? input.close() }
            let slice = 256 << 10, slices = 16
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: slice, alignment: 4096)
            defer { buffer.deallocate() }
            let step = max(Int64(slice), total / Int64(slices))
            var offset: Int64 = 0
            while offset < total {
                guard let read = try? FileSystem.read(input, into: buffer, at: offset, path: file, doing: "sampling the database"),
                      read > 0 else { break }
                sampled += Int64(read)
                try? compressor.compress(UnsafeRawBufferPointer(rebasing: buffer[..<read])) { compressed += Int64($0.count) }
                offset += step
            }
            try? compressor.finish { compressed += Int64($0.count) }
        }
        let ratio = sampled > 0 ? Double(compressed) / Double(sampled) : 1
        // The manifest and tar headers come on top (a few KB).
        let estimated = Int64((Double(total) * ratio).rounded()) + 4096
        return ExportPlan(database: database, kind: kind, manifest: manifest, databaseBytes: total, estimatedBytes: estimated)
    }
}
