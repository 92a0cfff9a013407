import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// Writes a zstd-compressed POSIX tar (pax) stream to a file descriptor, entry by entry, streaming.
///
/// Wraps `archive_write_new`, `archive_write_add_filter_zstd`, `archive_write_set_format_pax_restricted`
/// and `archive_write_open_fd`; see [libarchive's archive_write(3)](https://github.com/libarchive/libarchive/wiki/ManPageArchiveWrite3).
/// ``close()`` flushes the compressor and must be called; it does not close or sync the descriptor.
/// Not thread-safe.
public final class ArchiveWriter {
    private var archive: OpaquePointer?
    private let context: String
    private let sink: Sink

    /// The write callback's context: writes every byte to the descriptor, retrying short writes and EINTR.
    private final class Sink {
        let fd: Int32
        let observer: ((UnsafeRawBufferPointer) -> Void)?
        /// The errno of the last failed write (libarchive only reports "write failed").
        var lastErrno: Int32 = 0
        init(fd: Int32, observer: ((UnsafeRawBufferPointer) -> Void)?) {
            self.fd = fd
            self.observer = observer
        }

        func write(_ archive: OpaquePointer?, _ buffer: UnsafeRawPointer, _ length: Int) -> Int {
            var offset = 0
            while offset < length {
                let n = Glibc.write(fd, buffer + offset, length - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    lastErrno = errno
                    return -1
                }
                offset += n
            }
            observer?(UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }
    }

    /// Every compressed byte goes to `fileDescriptor` and, when given, to `observer` (to hash the
    /// archive as it is written).
    /// - Parameters:
    ///   - fileDescriptor: an open, writable descriptor; the caller keeps ownership.
    ///   - compressionLevel: the zstd level (1...19).
    ///   - threads: zstd worker threads; pass the core count (0 silently means one thread).
    ///   - context: a name for error messages, usually the output path.
    /// - Throws: ``ArchiveError`` for an option libarchive refuses (even as a warning).
    public init(fileDescriptor: Int32, compressionLevel: Int, threads: Int, context: String,
                observer: ((UnsafeRawBufferPointer) -> Void)? = nil) throws(ArchiveError) {
        self.context = context
        self.sink = Sink(fd: fileDescriptor, observer: observer)
        guard let a = archive_write_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: context)
        }
        archive = a
        try check(archive_write_add_filter_zstd(a), a, "selecting zstd for \(context)")
        try check(archive_write_set_format_pax_restricted(a), a, "selecting the tar format for \(context)")
        try check(archive_write_set_filter_option(a, "zstd", "compression-level", String(compressionLevel)), a,
                  "setting zstd level \(compressionLevel) for \(context)")
        if threads > 1 {
            try check(archive_write_set_filter_option(a, "zstd", "threads", String(threads)), a,
                      "setting zstd threads for \(context)")
        }
        try check(archive_write_set_bytes_in_last_block(a, 1), a, "configuring \(context)")
        let rc = archive_write_open2(a, Unmanaged.passUnretained(sink).toOpaque(), nil, { archive, context, buffer, length in
            guard let context, let buffer else { return -1 }
            return Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue().write(archive, buffer, length)
        }, nil, nil)
        try check(rc, a, "opening \(context) for writing")
    }

    deinit {
        if let archive { archive_write_free(archive) }
    }

    /// Writes one regular-file entry of `size` bytes; `body` produces the content through `write`,
    /// in as many pieces as it likes, and must produce exactly `size` bytes.
    /// - Throws: ``ArchiveError``, or what `body` throws.
    public func writeEntry(path: String, size: Int64, mode: UInt32 = 0o600, modificationTime: Int64,
                           body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let a = try handle()
        guard let entry = archive_entry_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: context)
        }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_size(entry, size)
        archive_entry_set_filetype(entry, 0o100000) // AE_IFREG
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_mtime(entry, time_t(modificationTime), 0)
        let headerCode = archive_write_header(a, entry)
        guard headerCode == ARCHIVE_OK else { throw failure(headerCode, a, "writing the header of \(path) into \(context)") }
        var written: Int64 = 0
        try body { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            var offset = 0
            while offset < buffer.count {
                let n = archive_write_data(a, base + offset, buffer.count - offset)
                guard n > 0 else {
                    throw failure(Int32(n == 0 ? ARCHIVE_FATAL : Int32(n)), a, "writing \(path) into \(context)")
                }
                offset += n
            }
            written += Int64(buffer.count)
        }
        guard written == size else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "entry produced \(written) bytes, expected \(size)",
                               context: "writing \(path) into \(context)")
        }
        let finishCode = archive_write_finish_entry(a)
        guard finishCode == ARCHIVE_OK else { throw failure(finishCode, a, "finishing \(path) in \(context)") }
    }

    /// Writes an in-memory entry (small files such as the manifest).
    public func writeEntry(path: String, contents: [UInt8], mode: UInt32 = 0o600, modificationTime: Int64) throws {
        try writeEntry(path: path, size: Int64(contents.count), mode: mode, modificationTime: modificationTime) { write in
            try contents.withUnsafeBytes { try write($0) }
        }
    }

    /// Flushes the compressor and the tar trailer. The corresponding C function is `archive_write_close`.
    /// - Throws: ``ArchiveError`` (a full disk shows up here too).
    public func close() throws(ArchiveError) {
        guard let a = archive else { return }
        let rc = archive_write_close(a)
        let error = rc == ARCHIVE_OK ? nil : failure(rc, a, "finishing \(context)")
        archive_write_free(a)
        archive = nil
        if let error { throw error }
    }

    /// An error for a failed write, with the errno the write callback saw.
    private func failure(_ code: Int32, _ archive: OpaquePointer, _ doing: String) -> ArchiveError {
        let reported = ArchiveError(code: code, archive: archive, context: doing)
        guard sink.lastErrno != 0 else { return reported }
        return ArchiveError(code: code, errno: sink.lastErrno, message: String(cString: strerror(sink.lastErrno)), context: doing)
    }

    private func handle() throws(ArchiveError) -> OpaquePointer {
        guard let archive else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "archive already closed", context: context)
        }
        return archive
    }
}
