import CZstd

/// Decompresses whole zstd frames of known size, one at a time (`ZSTD_decompressDCtx`): the unit of work
/// when a seekable archive's frames are decompressed on several threads, one decoder per thread. Not
/// thread-safe.
public final class ZstdFrameDecoder {
    private let context: OpaquePointer

    public init() throws(ArchiveError) {
        guard let context = ZSTD_createDCtx() else {
            throw ArchiveError(code: -1, errno: 0, message: "out of memory creating a zstd decoder", context: "decompressing")
        }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses `input`, which must be exactly one frame (a zstd frame, or a skippable frame, which
    /// gives nothing), into `output`, which must be exactly the frame's decompressed size.
    /// - Throws: ``ArchiveError`` when the frame is damaged, is not one whole frame, checksums wrong, or
    ///   decompresses to another size than `output`'s (a seek table that lies).
    public func decompress(frame input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                           context what: @autoclosure () -> String) throws(ArchiveError) {
        let frameSize = ZSTD_findFrameCompressedSize(input.baseAddress, input.count)
        guard ZSTD_isError(frameSize) == 0, frameSize == input.count else {
            throw ArchiveError(code: -1, errno: 0, message: "the frame is not one whole zstd frame", context: what())
        }
        if ZSTD_isSkippableFrame(input.baseAddress, input.count) != 0 {
            guard output.count == 0 else {
                throw ArchiveError(code: -1, errno: 0, message: "a skippable frame said to hold \(output.count) bytes", context: what())
            }
            return
        }
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        if declared != ZSTD_CONTENTSIZE_UNKNOWN, declared != UInt64(output.count) {
            throw ArchiveError(code: -1, errno: 0, message: "the frame holds \(declared) bytes, the seek table says \(output.count)", context: what())
        }
        // An empty buffer may have no address; zstd needs one even to write nothing.
        var scratch: UInt8 = 0
        let rc = withUnsafeMutablePointer(to: &scratch) { fallback in
            ZSTD_decompressDCtx(context, output.baseAddress ?? UnsafeMutableRawPointer(fallback), output.count,
                                input.baseAddress, input.count)
        }
        guard ZSTD_isError(rc) == 0 else {
            throw ArchiveError(code: -1, errno: 0, message: "zstd: \(String(cString: ZSTD_getErrorName(rc)))", context: what())
        }
        guard rc == output.count else {
            throw ArchiveError(code: -1, errno: 0, message: "the frame holds \(rc) bytes, the seek table says \(output.count)", context: what())
        }
    }
}
