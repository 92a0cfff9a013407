import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// What an entry header says, before its data is read.
public struct ArchiveEntryHeader: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, hardLink, other
    }

    /// The path as stored (not yet checked for safety).
    public let path: String
    public let kind: Kind
    /// The size the header declares, or nil when it declares none.
    public let size: Int64?
    public let modificationTime: Int64
}

/// Reads a (compressed) tar archive entry by entry, streaming.
///
/// Wraps `archive_read_new`, `archive_read_support_filter_all`, `archive_read_support_format_tar`
/// and `archive_read_open_filename`; see [archive_read(3)](https://github.com/libarchive/libarchive/wiki/ManPageArchiveRead3).
/// Not thread-safe.
public final class ArchiveReader {
    private var archive: OpaquePointer?
    public let path: String
    /// The caller's read function, for a reader opened on one (``init(name:blockSize:source:)``).
    private var source: ReadSource?

    /// Opens the archive at `path`.
    /// - Throws: ``ArchiveError`` (a missing file has errno `ENOENT`).
    public init(path: String, blockSize: Int = 1 << 20) throws(ArchiveError) {
        self.path = path
        guard let a = archive_read_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: path)
        }
        archive = a
        try check(archive_read_support_filter_all(a), a, "configuring the reader for \(path)")
        try check(archive_read_support_format_tar(a), a, "configuring the reader for \(path)")
        try check(archive_read_open_filename(a, path, blockSize), a, "opening \(path)")
    }

    /// Opens an archive whose bytes come from `source` (fills the buffer, returns the count, 0 at the
    /// end), for instance a decryptor. What `source` throws comes back as the ``ArchiveError``'s
    /// `underlying` error. `name` is used in messages.
    public init(name: String, blockSize: Int = 1 << 20,
                source read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws(ArchiveError) {
        path = name
        guard let a = archive_read_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: name)
        }
        archive = a
        let box = ReadSource(read: read, blockSize: blockSize)
        source = box
        try check(archive_read_support_filter_all(a), a, "configuring the reader for \(name)")
        try check(archive_read_support_format_tar(a), a, "configuring the reader for \(name)")
        let callback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int = { _, data, out in
            let box = Unmanaged<ReadSource>.fromOpaque(data!).takeUnretainedValue()
            do {
                let n = try box.read(box.buffer)
                out?.pointee = UnsafeRawPointer(box.buffer.baseAddress)
                return n
            } catch {
                box.error = error
                return -1
            }
        }
        let rc = archive_read_open(a, Unmanaged.passUnretained(box).toOpaque(), nil, callback, nil)
        guard rc == ARCHIVE_OK else { throw failure(rc, a, "opening \(name)") }
    }

    deinit {
        if let archive { archive_read_free(archive) }
    }

    /// Reads what is left of the caller's source to its end (libarchive stops at the tar trailer), so
    /// that a source that checks its own end (a decryptor: missing final chunk, trailing data) does.
    /// Nothing for a reader opened on a path.
    public func drainSource() throws(ArchiveError) {
        guard let source else { return }
        do {
            while try source.read(source.buffer) > 0 {}
        } catch {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "\(error)", context: "reading \(path)",
                               underlying: error)
        }
    }

    /// A libarchive failure, carrying the source's error when that is the cause.
    private func failure(_ code: Int32, _ a: OpaquePointer, _ context: String) -> ArchiveError {
        if let error = source?.error {
            return ArchiveError(code: code, errno: 0, message: "\(error)", context: context, underlying: error)
        }
        return ArchiveError(code: code, archive: a, context: context)
    }

    /// The next entry's header, or nil at the end of the archive.
    /// - Throws: ``ArchiveError`` for a damaged or truncated archive.
    public func nextEntry() throws(ArchiveError) -> ArchiveEntryHeader? {
        let a = try handle()
        var entry: OpaquePointer?
        let rc = archive_read_next_header(a, &entry)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK, let entry else {
            throw failure(rc, a, "reading the next entry header of \(path)")
        }
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        let kind: ArchiveEntryHeader.Kind
        if archive_entry_hardlink(entry) != nil {
            kind = .hardLink
        } else {
            switch archive_entry_filetype(entry) & 0o170000 {
            case 0o100000: kind = .regular
            case 0o040000: kind = .directory
            case 0o120000: kind = .symbolicLink
            default: kind = .other
            }
        }
        let size: Int64? = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : nil
        return ArchiveEntryHeader(path: name, kind: kind, size: size, modificationTime: Int64(archive_entry_mtime(entry)))
    }

    /// Reads the current entry's data into `buffer`. Returns 0 at the entry's end.
    /// - Throws: ``ArchiveError`` for damaged data (a failed zstd frame, a short file).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        let a = try handle()
        let n = archive_read_data(a, buffer.baseAddress, buffer.count)
        guard n >= 0 else { throw failure(Int32(n), a, "reading data from \(path)") }
        return n
    }

    /// Reads the whole current entry, refusing more than `limit` bytes.
    public func readAll(limit: Int) throws(ArchiveError) -> [UInt8] {
        var result = [UInt8]()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit {
                throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "entry is larger than \(limit) bytes", context: "reading \(path)")
            }
        }
    }

    /// Closes the archive and frees the reader (`archive_read_free`); reading afterwards throws.
    public func close() {
        if let archive { archive_read_free(archive) }
        archive = nil
    }

    private func handle() throws(ArchiveError) -> OpaquePointer {
        guard let archive else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "archive already closed", context: path)
        }
        return archive
    }
}

/// The caller's read function and the buffer libarchive reads from (`archive_read_open`'s client data).
private final class ReadSource {
    let read: (UnsafeMutableRawBufferPointer) throws -> Int
    let buffer: UnsafeMutableRawBufferPointer
    var error: (any Error)?

    init(read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int, blockSize: Int) {
        self.read = read
        buffer = .allocate(byteCount: blockSize, alignment: 16)
    }

    deinit { buffer.deallocate() }
}
