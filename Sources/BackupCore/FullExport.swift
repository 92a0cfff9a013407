import BackupArchive
import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which pages of the snapshot have reached its file, as the `ptc-tee` VFS reports SQLite's writes;
/// hands runs of consecutive pages (from page 2 on) to the compressor while the backup goes on.
///
/// Page 1 is left out: the backup rewrites its header at the end, so it travels in the archive's head.
/// Any write to a page the compressor has already read, or any write that is not whole pages past page 1,
/// marks the feed unstable, and the exporter then packs the finished snapshot again from the start.
///
/// `@unchecked Sendable`: written by SQLite's thread (through the VFS), read by the compressor's; every
/// field is guarded by `condition`, which the compressor also waits on for new pages.
final class PageFeed: @unchecked Sendable {
    let pageSize: Int64
    private let condition = NSCondition()
    /// Pages 2...contiguous have been written.
    private var contiguous: Int64 = 1
    private var pending: Set<Int64> = []
    /// Pages 2...consumed have been handed out.
    private var consumed: Int64 = 1
    private var finished = false
    private var isUnstable = false

    /// SQLite never writes the page holding the lock bytes (at 1 GiB); in the file it is a hole that
    /// reads as zeros once a later page has been written, and counts as written from then on.
    private let lockPage: Int64

    init(pageSize: Int64) {
        self.pageSize = pageSize
        lockPage = Self.lockBytePage(pageSize: pageSize)
    }

    /// The page that holds SQLite's lock bytes (`PENDING_BYTE`, offset 0x40000000).
    static func lockBytePage(pageSize: Int64) -> Int64 { 0x4000_0000 / pageSize + 1 }

    var unstable: Bool {
        condition.lock(); defer { condition.unlock() }
        return isUnstable
    }

    func record(_ event: WriteWatch.Event) {
        condition.lock()
        defer { condition.signal(); condition.unlock() }
        switch event {
        case .truncate(let size):
            if size < (max(contiguous, consumed)) * pageSize { isUnstable = true }
        case .write(let offset, let length):
            guard length > 0 else { return }
            let first = offset / pageSize + 1
            let last = (offset + length - 1) / pageSize + 1
            if last < 2 { return } // page 1 only
            if offset % pageSize != 0 || length % pageSize != 0 {
                isUnstable = true
                return
            }
            for page in max(first, 2)...last {
                if page <= consumed { isUnstable = true }
                if page > contiguous { pending.insert(page) }
            }
            while true {
                if pending.remove(contiguous + 1) != nil {
                    contiguous += 1
                } else if contiguous + 1 == lockPage, pending.contains(lockPage + 1) {
                    contiguous += 1
                } else {
                    break
                }
            }
        }
    }

    /// Gives up on streaming (the compressor met something it did not expect); the exporter then
    /// packs the finished snapshot the plain way.
    func abandon() {
        condition.lock()
        isUnstable = true
        condition.broadcast()
        condition.unlock()
    }

    /// No more writes will come (the backup ended, well or not).
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for pages after those already handed out; nil once the backup has ended and nothing is
    /// left, or the feed is unstable.
    func nextRun() -> ClosedRange<Int64>? {
        condition.lock(); defer { condition.unlock() }
        while contiguous <= consumed && !finished && !isUnstable { condition.wait() }
        guard !isUnstable, contiguous > consumed else { return nil }
        let run = (consumed + 1)...contiguous
        consumed = contiguous
        return run
    }
}

/// What a one-pass full export needs before it starts: the feed of written pages and the watch on the
/// snapshot file that fills it. Made up front, from what is known: when the write-watching VFS cannot
/// watch the file, the export takes the snapshot first and packs it afterwards.
struct StreamingSetup {
    let feed: PageFeed
    let watch: WriteWatch

    /// nil when the `ptc-tee` VFS cannot watch `snapshotPath` (not registered, or every slot taken).
    static func make(snapshotPath: String, pageSize: Int64) -> StreamingSetup? {
        let feed = PageFeed(pageSize: pageSize)
        guard let watch = try? WriteWatch(path: snapshotPath, handler: { feed.record($0) }) else { return nil }
        return StreamingSetup(feed: feed, watch: watch)
    }
}

extension Exporter {
    /// A full export in one pass over the data: while the online backup copies the database into the
    /// snapshot file, the pages it has written are compressed into the archive; then the snapshot's
    /// SHA-256 and `quick_check` run side by side, and the head (manifest, the database's tar header and
    /// page 1) is written last into the space kept for it at the start of the archive (see
    /// ``StreamedArchiveWriter``). The manifest's counts are read from the source inside the same read
    /// transaction as the backup, so they describe exactly the state copied. Should SQLite rewrite a page
    /// after it was compressed (the feed says so), the finished snapshot is packed again from the start,
    /// the plain way.
    func exportFull(source: Connection, snapshotter: Snapshotter, sourcePath: String, snapshot: TemporaryFile,
                    streaming: StreamingSetup, destination: ArchiveDestination, options: ExportOptions) throws -> (Manifest, Int64, String) {
        let finalPath = destination.path
        let snapshotPath = snapshot.path
        let archive = try TemporaryFile(beside: finalPath, suffix: "tmp", doing: "creating the archive")
        var draft: Manifest?
        var body: StreamedBody?
        do {
            try source.withReadTransaction {
                let described = try describe(source, sourcePath: sourcePath, kind: .full, options: options,
                                             selection: nil, skippedTables: [])
                draft = described
                body = try streamBackup(source: source, snapshotter: snapshotter, snapshot: snapshot, archive: archive,
                                        streaming: streaming, draft: described, options: options)
            }
        } catch {
            throw BackupError.sqlite(error, "taking the snapshot", path: sourcePath)
        }
        guard var manifest = draft, let body else { throw BackupError(.software, "the snapshot produced no manifest") }

        let pageSize = Int64(manifest.source.pageSize)
        let checks = SnapshotChecks(snapshotPath: snapshotPath, sourcePath: sourcePath)
        defer { _ = try? checks.wait() }
        // The compressor may still be busy long after the backup ended (a high --level): it keeps
        // reporting `compress` until it is done; only then does the check show.
        let bodyOutcome = Result { try body.compressor.wait() }
        progress?(.started(.check))
        manifest.entries[0].sha256 = try checks.wait()
        if case .failure(let error) = bodyOutcome {
            if let error = error as? ArchiveError { throw BackupError.archive(error, "writing the archive", path: finalPath, writing: true) }
            throw error
        }

        let expectedSize = manifest.entries[0].size
        var reason: String?
        if streaming.feed.unstable { reason = "a page was written again after it was compressed" }
        if let size = FileSystem.size(of: snapshotPath), size != expectedSize {
            reason = "the snapshot has \(size) bytes, the source \(expectedSize)"
        }
        if reason == nil {
            do {
                let page1 = try Self.readPage1(snapshot, pageSize: Int(pageSize))
                let head = try headBytes(manifest, bodyEntrySize: expectedSize, mtime: Int64(options.now.timeIntervalSince1970)) + page1
                if try body.writer.writeHead(head) {
                    let bytes = try body.encrypting?.finish() ?? body.writer.totalBytes
                    try archive.sync(doing: "syncing the archive")
                    return (manifest, bytes, try archive.commit(to: destination))
                }
                reason = "the manifest did not fit the space kept for it"
            } catch let error as ArchiveError {
                throw BackupError.archive(error, "writing the archive", path: finalPath, writing: true)
            }
        }
        logger.info("packing the snapshot again from the start", metadata: ["reason": "\(reason ?? "unknown")"])
        return try pack(snapshotPath: snapshotPath, sourcePath: sourcePath, manifest: manifest, to: destination, options: options)
    }

    /// The archive being written while the backup runs.
    struct StreamedBody {
        let writer: StreamedArchiveWriter
        /// The encryptor the writer writes through, when the archive is encrypted.
        let encrypting: EncryptingOutput?
        let compressor: BackgroundTask<Void>
    }

    /// Runs the backup into the snapshot while a compressor thread packs its pages as they land. A feed
    /// that turns unstable only ends the stream (the exporter then packs the finished snapshot again);
    /// a failure to write the archive (a full disk) stops the backup too.
    private func streamBackup(source: Connection, snapshotter: Snapshotter, snapshot: TemporaryFile, archive: TemporaryFile,
                              streaming: StreamingSetup, draft: Manifest, options: ExportOptions) throws -> StreamedBody {
        let pageSize = Int64(draft.source.pageSize)
        let pageCount = Int64(draft.source.pageCount)
        let entrySize = draft.entries[0].size
        let mtime = Int64(options.now.timeIntervalSince1970)
        let reservation = try StreamedArchiveWriter.reservation(for: try headBytes(draft, bodyEntrySize: entrySize, mtime: mtime),
                                                                level: options.compressionLevel) + Int(pageSize) + 64
        let (writer, encrypting) = try StreamedArchiveWriter.make(archive: archive, encryption: options.encryption,
                                                                  level: options.compressionLevel, threads: options.threads,
                                                                  reservation: reservation)
        let feed = streaming.feed
        defer { streaming.watch.stop() }
        let failed = Flag()
        let input = snapshot.descriptor, snapshotPath = snapshot.path
        let progress = self.progress
        var quietSnapshotter = snapshotter
        quietSnapshotter.progress = nil
        let compressor = BackgroundTask<Void> {
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
            defer { chunk.deallocate() }
            do {
                let bodySize = max(0, pageCount - 1) * pageSize
                // One phase for the one pass: what zstd has compressed (it follows the backup closely, or
                // lags far behind it at a high --level); the backup itself reports nothing.
                let reportCompressed: (Int64) -> Void = { bytes in
                    progress?(ProgressEvent(phase: .compress, done: pageSize + bytes, total: entrySize)) // page 1 travels in the head
                }
                try writer.writeBody(size: bodySize, entrySize: entrySize, compressed: progress == nil ? nil : reportCompressed) { write in
                    while let run = feed.nextRun() {
                        var offset = (run.lowerBound - 1) * pageSize
                        let end = run.upperBound * pageSize
                        while offset < end {
                            let want = Int(min(Int64(chunk.count), end - offset))
                            let n = try FileSystem.read(input, into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<want]), at: offset,
                                                        path: snapshotPath, doing: "reading the snapshot")
                            guard n > 0 else {
                                feed.abandon() // a page reported written is not there: pack again afterwards
                                return
                            }
                            try write(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                            offset += Int64(n)
                        }
                    }
                }
            } catch {
                // An abandoned feed leaves the body short: not a failure, the snapshot is packed again.
                if feed.unstable { return }
                failed.set()
                throw error
            }
        }
        do {
            try quietSnapshotter.full(from: source, to: snapshotPath, vfs: WriteWatch.vfsName, abortIf: { failed.isSet })
        } catch {
            feed.finish()
            // When packing failed first, its error is the one that says what went wrong.
            if failed.isSet, case .failure(let packingError) = Result(catching: { try compressor.wait() }) {
                if let archiveError = packingError as? ArchiveError {
                    throw BackupError.archive(archiveError, "writing the archive", path: archive.path, writing: true)
                }
                throw packingError
            }
            _ = try? compressor.wait()
            throw error
        }
        feed.finish()
        return StreamedBody(writer: writer, encrypting: encrypting, compressor: compressor)
    }

    /// The tar bytes before the database's content: the manifest entry and the database's header.
    func headBytes(_ manifest: Manifest, bodyEntrySize: Int64, mtime: Int64) throws -> [UInt8] {
        let json = Array(try Self.encode(manifest))
        return try TarLayout.head(
            files: [(TarLayout.Entry(path: Manifest.entryName, size: Int64(json.count), modificationTime: mtime), json)],
            body: TarLayout.Entry(path: Manifest.databaseEntryName, size: bodyEntrySize, modificationTime: mtime))
    }

    private static func readPage1(_ snapshot: TemporaryFile, pageSize: Int) throws -> [UInt8] {
        var page = [UInt8](repeating: 0, count: pageSize)
        let n = try page.withUnsafeMutableBytes {
            try FileSystem.read(snapshot.descriptor, into: $0, at: 0, path: snapshot.path, doing: "reading the snapshot")
        }
        guard n == pageSize else { throw BackupError(.ioError, "could not read page 1 of the snapshot \(snapshot.path)") }
        return page
    }
}
