import CZstd

/// A streaming zstd compressor (`ZSTD_compressStream2`), multithreaded with a bounded job size so
/// that memory stays flat whatever the input's size. One frame per compressor. Not thread-safe
/// (zstd's own worker threads are internal).
public final class ZstdCompressor {
    private let context: OpaquePointer
    private var output: UnsafeMutableRawBufferPointer
    private let name: String

    /// - Parameters:
    ///   - level: zstd level (1...19).
    ///   - workers: worker threads; 0 or 1 compresses on the calling thread.
    ///   - jobSize: bytes per multithreaded job (memory grows with workers × job size).
    ///   - name: what is being compressed, for error messages.
    /// - Throws: ``ArchiveError`` when zstd refuses a parameter.
    public init(level: Int, workers: Int, jobSize: Int = 4 << 20, name: String) throws(ArchiveError) {
        guard let context = ZSTD_createCCtx() else {
            throw ArchiveError(code: -1, errno: 0, message: "out of memory creating a zstd context", context: name)
        }
        self.context = context
        self.name = name
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        try set(ZSTD_c_compressionLevel, Int32(level), "level \(level)")
        try set(ZSTD_c_checksumFlag, 1, "content checksums")
        if workers > 1 {
            try set(ZSTD_c_nbWorkers, Int32(workers), "\(workers) workers")
            try set(ZSTD_c_jobSize, Int32(jobSize), "job size \(jobSize)")
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    private func set(_ parameter: ZSTD_cParameter, _ value: Int32, _ what: String) throws(ArchiveError) {
        let rc = ZSTD_CCtx_setParameter(context, parameter, value)
        if ZSTD_isError(rc) != 0 {
            throw ArchiveError(code: -1, errno: 0, message: "zstd refused \(what): \(String(cString: ZSTD_getErrorName(rc)))", context: name)
        }
    }

    /// Compresses `input`, handing compressed bytes to `sink` as they come.
    public func compress(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(input, directive: ZSTD_e_continue, sink: sink)
    }

    /// Input bytes compressed so far in this frame (not those only buffered for the workers): what a
    /// progress display can truthfully call done. The corresponding C function is `ZSTD_getFrameProgression`.
    public var consumed: Int64 { Int64(ZSTD_getFrameProgression(context).consumed) }

    /// Declares the size of the frame about to start, written into its header (readers then know each
    /// frame's size without decompressing it). Call before the frame's first byte; zstd refuses a frame whose
    /// content then differs in size.
    public func pledgeFrameSize(_ size: Int64) throws(ArchiveError) {
        let rc = ZSTD_CCtx_setPledgedSrcSize(context, UInt64(size))
        if ZSTD_isError(rc) != 0 {
            throw ArchiveError(code: -1, errno: 0, message: "zstd refused a frame size of \(size): \(String(cString: ZSTD_getErrorName(rc)))", context: name)
        }
    }

    /// Ends the frame, flushing everything to `sink`. Compressing more afterwards starts a new, independent
    /// frame with the same parameters.
    public func finish(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), directive: ZSTD_e_end, sink: sink)
    }

    private func run(_ input: UnsafeRawBufferPointer, directive: ZSTD_EndDirective,
                     sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, directive)
            if ZSTD_isError(remaining) != 0 {
                throw ArchiveError(code: -1, errno: 0, message: "zstd failed: \(String(cString: ZSTD_getErrorName(remaining)))", context: name)
            }
            if outBuffer.pos > 0 { try sink(UnsafeRawBufferPointer(start: output.baseAddress, count: outBuffer.pos)) }
            let done = directive == ZSTD_e_end ? remaining == 0 : inBuffer.pos == inBuffer.size
            if done { return }
        }
    }

    /// The largest compressed size of `count` bytes in one frame (`ZSTD_compressBound`).
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// A zstd skippable frame of exactly `length` bytes (at least 8): decoders skip it.
    public static func skippableFrame(length: Int) -> [UInt8] {
        precondition(length >= 8, "a skippable frame needs 8 bytes of header")
        let payload = UInt32(length - 8)
        var frame: [UInt8] = [0x50, 0x2A, 0x4D, 0x18] // magic 0x184D2A50, little-endian
        frame += [UInt8(payload & 0xff), UInt8((payload >> 8) & 0xff), UInt8((payload >> 16) & 0xff), UInt8(payload >> 24)]
        frame += [UInt8](repeating: 0, count: Int(payload))
        return frame
    }
}
