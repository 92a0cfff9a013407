import BackupAge
import BackupArchive
import BackupModel
import Foundation
import SystemPackage

/// Extraction of a format 2 archive's database with its frames decompressed on every core (``ParallelFrames``),
/// for archives laid out as exports write them: `[head frame][padding][body frames][seek table]`, one entry
/// (the database) besides the manifest. Anything else is read the plain way, by libarchive.
extension Verifier {
    /// The outcome of extracting `path`'s database into `workspace` in parallel, or nil when the archive
    /// is not one this path reads (an older format, encrypted without a key that opens it, another layout):
    /// then the caller reads it with libarchive. An encrypted archive is read through ``AgeRandomAccess``;
    /// reading every frame and the table authenticates every chunk, the final one included. Damage found on the way is returned as problems, as the plain path does.
    func extractSeekable(_ path: String, manifest: Manifest, into workspace: String) throws -> Outcome? {
        guard manifest.formatVersion >= 2, manifest.entries.count == 1, let entry = manifest.entries.first,
              entry.path == Manifest.databaseEntryName else { return nil }
        let file = try FileSystem.openForReading(path, doing: "reading the archive")
        defer { try? file.close() }
        guard let fileSize = FileSystem.size(of: path) else { return nil }
        // An encrypted archive is read through its chunks, decrypted where they lie (with the keys given).
        let source: ArchiveBytes
        if try ArchiveEncryptionInfo.isEncrypted(path) {
            guard !keys.isEmpty else { return nil }
            do {
                source = ArchiveBytes(decrypting: try AgeRandomAccess(identities: keys.identities, file: file, fileSize: fileSize), path: path)
            } catch {
                return nil // the plain path says what is wrong, as it always has
            }
        } else {
            source = ArchiveBytes(file: file, path: path, size: fileSize)
        }
        let size = source.size
        guard size > Int64(SeekTable.footerSize) + 8 else { return nil }
        func bytes(at offset: Int64, count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            let n = try out.withUnsafeMutableBytes { try source.read($0, at: offset, doing: "reading the archive") }
            return Array(out.prefix(n))
        }
        guard try bytes(at: 0, count: 4) == [0x28, 0xB5, 0x2F, 0xFD] else { return nil }
        func damaged(_ problem: String) -> Outcome {
            Outcome(manifest: manifest, problems: [problem], tables: [], databasePath: nil)
        }

        // The seek table, checked against the file.
        let table: SeekTable
        do {
            // No table at all: repacked by another tool, or cut short; the plain path reads it and finds out.
            guard let tableSize = try SeekTable.tableSize(footer: try bytes(at: size - Int64(SeekTable.footerSize), count: SeekTable.footerSize)) else {
                return nil
            }
            guard Int64(tableSize) < size else { return damaged("the archive's seek table is damaged: it claims \(tableSize) bytes of a \(size)-byte file") }
            table = try SeekTable(parsing: try bytes(at: size - Int64(tableSize), count: tableSize), fileSize: size)
        } catch let error as ArchiveError {
            return damaged(error.message)
        }
        let frames = table.frames
        guard frames.count >= 3, frames[0].decompressedSize > 0, frames[1].decompressedSize == 0,
              frames[0].decompressedSize <= 16 << 20 else { return nil }

        // The head: the manifest and the database's tar header (and, for full exports, its first page).
        let decoder = try ZstdFrameDecoder()
        var head = [UInt8](repeating: 0, count: Int(frames[0].decompressedSize))
        do {
            let first = try bytes(at: 0, count: Int(frames[0].compressedSize + frames[1].compressedSize))
            try first.withUnsafeBytes { raw in
                try head.withUnsafeMutableBytes { out in
                    try decoder.decompress(frame: UnsafeRawBufferPointer(rebasing: raw[0..<Int(frames[0].compressedSize)]), into: out,
                                           context: "decompressing the head of \(path)")
                }
                try decoder.decompress(frame: UnsafeRawBufferPointer(rebasing: raw[Int(frames[0].compressedSize)...]),
                                       into: UnsafeMutableRawBufferPointer(start: nil, count: 0), context: "reading the padding of \(path)")
            }
        } catch let error as ArchiveError {
            return damaged("the archive's head is damaged: \(error.message)")
        }
        // Exactly the manifest, then the database, as exports write them; anything else is for the plain path.
        guard let entries = TarLayout.entries(in: head), entries.map(\.name) == [Manifest.entryName, entry.path],
              let (_, dataStart, declared) = entries.last else { return nil }
        if let free = FileSystem.freeBytes(at: workspace), entry.size > free {
            throw BackupError(.ioError, "\(path) holds a database of \(ByteCount.text(entry.size)), but only \(ByteCount.text(free)) are free in \(temporaryDirectory); free some space or pass --tmp-dir")
        }
        guard declared == entry.size else {
            return damaged("entry '\(entry.path)' declares \(declared) bytes, the manifest says \(entry.size)")
        }
        let inHead = Int64(head.count - dataStart)
        let trailer = Int64(TarLayout.trailer(bodySize: entry.size).count)
        guard inHead <= entry.size, table.decompressedSize - Int64(head.count) == entry.size - inHead + trailer else {
            return damaged("the seek table's frames hold \(table.decompressedSize) bytes, not the \(entry.path) of \(entry.size) bytes the manifest lists")
        }

        // The body, decompressed on every core, written and hashed in order.
        let outPath = (workspace as NSString).appendingPathComponent("entry-1.bin")
        let output = try FileSystem.createExclusive(outPath, doing: "extracting the database")
        defer { try? output.close() }
        let pipe = HashingPipe()
        var written: Int64 = 0
        func take(_ content: UnsafeRawBufferPointer) throws {
            var rest = content
            while !rest.isEmpty {
                let n = try pipe.fill { buffer in
                    let n = min(buffer.count, rest.count)
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
                    return n
                }
                try FileSystem.write(output, UnsafeRawBufferPointer(rebasing: rest[0..<n]), path: outPath, doing: "extracting the database")
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
            written += Int64(content.count)
            progress?(ProgressEvent(phase: .verify, done: written, total: entry.size))
        }
        /// What follows the database is not the tar trailer (more entries?): the plain path names it.
        struct NotTheExportLayout: Error {}
        var problems: [String] = []
        do {
            try head.withUnsafeBytes { try take(UnsafeRawBufferPointer(rebasing: $0[dataStart...])) }
            try ParallelFrames(source: source, path: path, table: table).read(frames: 2..<frames.count) { _, content in
                let data = Int(min(Int64(content.count), entry.size - written))
                try take(UnsafeRawBufferPointer(rebasing: content[0..<data]))
                guard content[data...].allSatisfy({ $0 == 0 }) else { throw NotTheExportLayout() }
            }
        } catch let error as BackupError where error.code == .dataError {
            problems.append("entry '\(entry.path)' cannot be decompressed: \(error.message)")
        } catch is NotTheExportLayout {
            _ = pipe.finish()
            FileSystem.remove(outPath) // the descriptor is closed on the way out
            return nil
        }
        let digest = pipe.finish()
        if problems.isEmpty {
            if written != entry.size {
                problems.append("entry '\(entry.path)' has \(written) bytes, the manifest says \(entry.size)")
            } else if digest != entry.sha256 {
                problems.append("entry '\(entry.path)' has SHA-256 \(digest), the manifest says \(entry.sha256)")
            }
        }
        return Outcome(manifest: manifest, problems: problems, tables: [], databasePath: problems.isEmpty ? outPath : nil)
    }
}
