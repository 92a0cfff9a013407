import SystemPackage

/// Writes a `.tar.zst` whose small leading entries (the manifest) are only known after its large last
/// entry (the database) has been streamed, yet come first in the archive.
///
/// File layout: `[zstd frame: head][skippable frame: padding][zstd frame: body + tar trailer]`. The body
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
    /// entry of `entrySize` bytes (the body's size, unless the entry's first bytes go in the head).
    /// - Throws: ``ArchiveError`` (a full disk has errno `ENOSPC` or `EFBIG`), or what `produce` throws.
    /// `compressed` hears how many input bytes zstd has compressed so far (``ZstdCompressor/consumed``),
    /// after each chunk and each flush: with workers, input is taken long before it is compressed.
    public func writeBody(size: Int64, entrySize: Int64? = nil, compressed: ((Int64) -> Void)? = nil,
                          produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let compressor = try ZstdCompressor(level: level, workers: threads, jobSize: jobSize, name: context)
        var offset = Int64(headReservation)
        let sink: (UnsafeRawBufferPointer) throws -> Void = { bytes in
            try self.pwriteAll(bytes, at: offset)
            offset += Int64(bytes.count)
            compressed?(min(size, compressor.consumed))
        }
        var produced: Int64 = 0
        try produce { chunk in
            produced += Int64(chunk.count)
            guard produced <= size else {
                throw ArchiveError(code: -1, errno: 0, message: "the entry grew past its declared \(size) bytes", context: self.context)
            }
            try compressor.compress(chunk, sink: sink)
            compressed?(min(size, compressor.consumed))
        }
        guard produced == size else {
            throw ArchiveError(code: -1, errno: 0, message: "the entry produced \(produced) bytes, expected \(size)", context: context)
        }
        try TarLayout.trailer(bodySize: entrySize ?? size).withUnsafeBytes { try compressor.compress($0, sink: sink) }
        try compressor.finish(sink: sink)
        bodyCompressedBytes = offset - Int64(headReservation)
    }

    /// Compresses `head` into the reserved space at offset 0 and fills the rest with a skippable frame.
    /// Returns false, writing nothing, when the compressed head does not fit.
    public func writeHead(_ head: [UInt8]) throws(ArchiveError) -> Bool {
        let compressed = try Self.compressWhole(head, level: level, name: context)
        guard compressed.count + 8 <= headReservation else { return false }
        let block = compressed + ZstdCompressor.skippableFrame(length: headReservation - compressed.count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block.count, alignment: 16)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: block)
        try pwriteAll(UnsafeRawBufferPointer(buffer), at: 0)
        return true
    }

    /// The archive's total size once both parts are written.
    public var totalBytes: Int64 { Int64(headReservation) + bodyCompressedBytes }

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

/// Where a ``StreamedArchiveWriter`` puts its bytes: at absolute offsets (`pwrite` semantics).
public protocol ArchiveOutput: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
}

/// A file descriptor written with `pwrite`; the caller owns, syncs and closes it.
public final class DescriptorOutput: ArchiveOutput {
    public let fileDescriptor: FileDescriptor
    public init(_ fileDescriptor: FileDescriptor) { self.fileDescriptor = fileDescriptor }
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        _ = try fileDescriptor.writeAll(toAbsoluteOffset: offset, bytes)
    }
}
