import BackupSystem
import SystemPackage

/// Writes a `.tar.zst` whose small leading entries (the manifest) are only known after its large last
/// entry (the database) has been streamed, yet come first in the archive.
///
/// File layout (format 2): `[zstd frame: head][skippable frame: padding][zstd frames: body + tar trailer]
/// [skippable frame: seek table]`, in zstd's seekable format. The body
/// is compressed first, at offset `headReservation`; the head (``TarLayout/head(files:body:)``) is then
/// compressed into the reserved space at offset 0 and the rest of that space becomes a skippable frame,
/// which every zstd decoder (libarchive, the `zstd` tool) passes over. Decompressed, the file is one
/// ordinary tar stream with the head's entries first. Writes use `pwrite`; the caller owns, syncs and
/// closes the descriptor. Use it from one thread at a time.
///
/// `@unchecked Sendable`: the body is written on a compressor thread and the head afterwards on the
/// caller's, handed over once the body's thread has ended (the only mutable state is the body's size).
public final class StreamedArchiveWriter: @unchecked Sendable {
    private let output: any ArchiveOutput
    private let level: Int
    private let threads: Int
    private let jobSize: Int
    public let headReservation: Int
    private let context: String
    /// Bytes written after the reservation.
    public private(set) var bodyCompressedBytes: Int64 = 0
    /// The body's frames, as the seek table lists them.
    private var bodyFrames: [SeekTable.Frame] = []
    /// The seek table's size, once written (it ends the file).
    public private(set) var seekTableBytes = 0
    /// Input bytes per body frame: small enough that several cores share a database's decompression and a
    /// reader holds a few frames at once within its memory budget, large enough that compression barely
    /// notices the cuts (zstd -3's window is 2 MiB).
    public var frameSize = 4 << 20

    /// - Parameters:
    ///   - headReservation: bytes kept free at the start for the compressed head; see ``reservation(for:level:)``.
    ///   - threads: zstd workers for the body (the core count).
    ///   - jobSize: bytes per zstd job; memory is about threads × 2-3 × jobSize.
    public convenience init(fileDescriptor: FileDescriptor, compressionLevel: Int, threads: Int, jobSize: Int = 2 << 20,
                            headReservation: Int, context: String) {
        self.init(output: DescriptorOutput(fileDescriptor), compressionLevel: compressionLevel, threads: threads,
                  jobSize: jobSize, headReservation: headReservation, context: context)
    }

    /// Writes through `output` (an encryptor, for instance) instead of straight to a file: the body
    /// sequentially from offset `headReservation`, then the head, exactly `headReservation` bytes, at 0.
    public init(output: any ArchiveOutput, compressionLevel: Int, threads: Int, jobSize: Int = 2 << 20,
                headReservation: Int, context: String) {
        self.output = output
        self.level = compressionLevel
        self.threads = threads
        self.jobSize = jobSize
        self.headReservation = headReservation
        self.context = context
    }

    /// The space to reserve for a head like `template` (same length, different bytes): its compressed
    /// size now, plus a margin, plus room for a skippable frame's header.
    public static func reservation(for template: [UInt8], level: Int) throws(ArchiveError) -> Int {
        let compressed = try compressWhole(template, level: level, name: "manifest")
        return compressed.count + 1024 + 8
    }

    /// Compresses and writes the body: exactly `size` bytes from `produce`, then the tar trailer for an
    /// entry of `entrySize` bytes (the body's size, unless the entry's first bytes go in the head), as
    /// independent zstd frames of ``frameSize`` bytes each (the last one shorter), each with its size in its
    /// header and a content checksum, so that readers can decompress them apart and at once.
    /// - Throws: ``ArchiveError`` (a full disk has errno `ENOSPC` or `EFBIG`), or what `produce` throws.
    /// `compressed` hears how many input bytes zstd has compressed so far (``ZstdCompressor/consumed``, plus
    /// the frames already ended), after each chunk and each flush: with workers, input is taken long before
    /// it is compressed.
    public func writeBody(size: Int64, entrySize: Int64? = nil, compressed: ((Int64) -> Void)? = nil,
                          produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let compressor = try ZstdCompressor(level: level, workers: threads, jobSize: jobSize, name: context)
        let trailer = TarLayout.trailer(bodySize: entrySize ?? size)
        let total = size + Int64(trailer.count)
        var offset = Int64(headReservation)
        var frameStart = offset
        var tail: UInt32 = 0 // the last 4 bytes written: at a frame's end, its content checksum
        var framesDone: Int64 = 0 // input bytes of the frames already ended
        var inFrame: Int64 = 0
        bodyFrames = []
        let sink: (UnsafeRawBufferPointer) throws -> Void = { bytes in
            try self.pwriteAll(bytes, at: offset)
            offset += Int64(bytes.count)
            for byte in bytes.suffix(4) { tail = tail >> 8 | UInt32(byte) << 24 }
            compressed?(min(size, framesDone + compressor.consumed))
        }
        func feed(_ bytes: UnsafeRawBufferPointer) throws {
            var rest = bytes
            while !rest.isEmpty {
                if inFrame == 0 { try compressor.pledgeFrameSize(min(Int64(frameSize), total - framesDone)) }
                let room = Int(min(Int64(rest.count), Int64(frameSize) - inFrame))
                try compressor.compress(UnsafeRawBufferPointer(rebasing: rest[0..<room]), sink: sink)
                inFrame += Int64(room)
                rest = UnsafeRawBufferPointer(rebasing: rest[room...])
                if inFrame == Int64(frameSize) || framesDone + inFrame == total {
                    try compressor.finish(sink: sink)
                    bodyFrames.append(.init(compressedSize: UInt32(offset - frameStart), decompressedSize: UInt32(inFrame), checksum: tail))
                    framesDone += inFrame
                    inFrame = 0
                    frameStart = offset
                }
            }
        }
        var produced: Int64 = 0
        try produce { chunk in
            produced += Int64(chunk.count)
            guard produced <= size else {
                throw ArchiveError(code: -1, errno: 0, message: "the entry grew past its declared \(size) bytes", context: self.context)
            }
            try feed(chunk)
            compressed?(min(size, framesDone + compressor.consumed))
        }
        guard produced == size else {
            throw ArchiveError(code: -1, errno: 0, message: "the entry produced \(produced) bytes, expected \(size)", context: context)
        }
        try trailer.withUnsafeBytes { try feed($0) }
        bodyCompressedBytes = offset - Int64(headReservation)
    }

    /// Compresses `head` into the reserved space at offset 0 and fills the rest with a skippable frame,
    /// then appends the seek table (``SeekTable``) of the whole file after the body: the head's frame, the
    /// padding, the body's frames. Returns false, writing nothing, when the compressed head does not fit.
    public func writeHead(_ head: [UInt8]) throws(ArchiveError) -> Bool {
        let compressed = try Self.compressWhole(head, level: level, name: context)
        guard compressed.count + 8 <= headReservation else { return false }
        let block = compressed + ZstdCompressor.skippableFrame(length: headReservation - compressed.count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block.count, alignment: 16)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: block)
        try pwriteAll(UnsafeRawBufferPointer(buffer), at: 0)
        let checksum = compressed.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let table = SeekTable(frames: [.init(compressedSize: UInt32(compressed.count), decompressedSize: UInt32(head.count), checksum: checksum),
                                       .init(compressedSize: UInt32(headReservation - compressed.count), decompressedSize: 0,
                                             checksum: SeekTable.emptyChecksum)] + bodyFrames).encoded()
        let tableBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: table.count, alignment: 16)
        defer { tableBuffer.deallocate() }
        tableBuffer.copyBytes(from: table)
        try pwriteAll(UnsafeRawBufferPointer(tableBuffer), at: Int64(headReservation) + bodyCompressedBytes)
        seekTableBytes = table.count
        return true
    }

    /// The archive's total size once every part is written.
    public var totalBytes: Int64 { Int64(headReservation) + bodyCompressedBytes + Int64(seekTableBytes) }

    private static func compressWhole(_ bytes: [UInt8], level: Int, name: String) throws(ArchiveError) -> [UInt8] {
        let compressor = try ZstdCompressor(level: level, workers: 0, name: name)
        var out: [UInt8] = []
        do {
            try bytes.withUnsafeBytes { input in
                try compressor.compress(input) { out.append(contentsOf: $0) }
                try compressor.finish { out.append(contentsOf: $0) }
            }
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw ArchiveError(code: -1, errno: 0, message: "\(error)", context: name)
        }
        return out
    }

    private func pwriteAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(ArchiveError) {
        do {
            try output.write(bytes, at: offset)
        } catch let error as ArchiveError {
            throw error
        } catch {
            let code = (error as? Errno)?.rawValue ?? 0
            throw ArchiveError(code: -1, errno: code, message: "\(error)", context: "writing \(context)",
                               underlying: error)
        }
    }
}

/// Where a ``StreamedArchiveWriter`` puts its bytes: at absolute offsets (BackupSystem's one home for it).
public typealias ArchiveOutput = PositionalOutput
