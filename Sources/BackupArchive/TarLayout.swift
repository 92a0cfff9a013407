import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of a POSIX tar (pax) stream, made by libarchive, for archives whose last entry is
/// streamed separately: the leading entries and the last entry's header (``head(files:body:)``),
/// then the last entry's content, then ``trailer(bodySize:)``.
public enum TarLayout {
    public struct Entry: Sendable {
        public var path: String
        public var size: Int64
        public var mode: UInt32
        public var modificationTime: Int64
        public init(path: String, size: Int64, mode: UInt32 = 0o600, modificationTime: Int64) {
            self.path = path
            self.size = size
            self.mode = mode
            self.modificationTime = modificationTime
        }
    }

    /// Collects what libarchive writes, until sealed.
    private final class Capture {
        var bytes: [UInt8] = []
        var sealed = false
    }

    /// The tar bytes of each of `files` (header and padded content), followed by the header of `body`,
    /// whose content the caller writes next.
    /// - Throws: ``ArchiveError``.
    public static func head(files: [(entry: Entry, contents: [UInt8])], body: Entry) throws(ArchiveError) -> [UInt8] {
        guard let a = archive_write_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: "tar head")
        }
        let capture = Capture()
        defer {
            capture.sealed = true // libarchive pads and closes on free; none of that is ours
            archive_write_free(a)
        }
        try check(archive_write_set_format_pax_restricted(a), a, "selecting the tar format")
        try check(archive_write_add_filter_none(a), a, "selecting no filter")
        // No blocking: every byte reaches the callback when written.
        try check(archive_write_set_bytes_per_block(a, 0), a, "unblocking the tar writer")
        let rc = archive_write_open2(a, Unmanaged.passUnretained(capture).toOpaque(), nil, { _, context, buffer, length in
            guard let context, let buffer else { return -1 }
            let capture = Unmanaged<Capture>.fromOpaque(context).takeUnretainedValue()
            if !capture.sealed { capture.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length)) }
            return length
        }, nil, nil)
        try check(rc, a, "opening the tar head")
        for (entry, contents) in files {
            try writeHeader(a, entry)
            var offset = 0
            while offset < contents.count {
                let n = contents[offset...].withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
                guard n > 0 else { throw ArchiveError(code: ARCHIVE_FATAL, archive: a, context: "writing \(entry.path)") }
                offset += n
            }
            try check(archive_write_finish_entry(a), a, "finishing \(entry.path)")
        }
        try writeHeader(a, body)
        capture.sealed = true
        guard capture.bytes.count % 512 == 0 else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: 0, message: "tar head is \(capture.bytes.count) bytes, not whole blocks", context: body.path)
        }
        return capture.bytes
    }

    /// The regular-file entries whose headers `head` (tar bytes from the stream's start) holds, in order:
    /// name, where its content starts, the size its header declares. The last one's content may run past
    /// `head`. Nil when `head` holds anything else (another entry type, a pax record that changes a path or
    /// size, a header that does not parse): the caller then reads the archive the plain way.
    public static func entries(in head: [UInt8]) -> [(name: String, dataStart: Int, size: Int64)]? {
        var found: [(name: String, dataStart: Int, size: Int64)] = []
        var offset = 0
        while offset + 512 <= head.count {
            guard let size = octal(head, offset + 124, 12), size >= 0 else { return nil }
            let type = head[offset + 156]
            let dataStart = offset + 512
            switch type {
            case UInt8(ascii: "x"):
                // A pax header for the next entry: records that change where or what it is are not read here.
                let end = dataStart + Int(size)
                guard end <= head.count else { return nil }
                let text = String(decoding: head[dataStart..<end], as: UTF8.self)
                if text.split(separator: "\n").contains(where: { $0.contains(" size=") || $0.contains(" path=") }) { return nil }
            case UInt8(ascii: "0"), 0:
                let name = String(decoding: head[offset..<offset + 100].prefix { $0 != 0 }, as: UTF8.self)
                let prefix = String(decoding: head[offset + 345..<offset + 500].prefix { $0 != 0 }, as: UTF8.self)
                found.append((prefix.isEmpty ? name : prefix + "/" + name, dataStart, size))
            default:
                return nil
            }
            offset = dataStart + Int((size + 511) / 512 * 512)
        }
        return found
    }

    /// An octal number field of a tar header (NUL- or space-terminated); nil when it is not one.
    private static func octal(_ bytes: [UInt8], _ at: Int, _ length: Int) -> Int64? {
        var value: Int64 = 0
        var digits = 0
        for byte in bytes[at..<at + length] {
            if byte == 0 || byte == UInt8(ascii: " ") {
                if digits > 0 { break } else { continue }
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte), value < Int64.max >> 3 else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// What follows `bodySize` bytes of content: zeros to the next 512-byte block, then the two zero
    /// blocks that end a tar archive.
    public static func trailer(bodySize: Int64) -> [UInt8] {
        let padding = Int((512 - bodySize % 512) % 512)
        return [UInt8](repeating: 0, count: padding + 1024)
    }

    private static func writeHeader(_ a: OpaquePointer, _ entry: Entry) throws(ArchiveError) {
        guard let header = archive_entry_new() else {
            throw ArchiveError(code: ARCHIVE_FATAL, errno: ENOMEM, message: "out of memory", context: entry.path)
        }
        defer { archive_entry_free(header) }
        archive_entry_set_pathname(header, entry.path)
        archive_entry_set_size(header, entry.size)
        archive_entry_set_filetype(header, 0o100000) // AE_IFREG
        archive_entry_set_perm(header, mode_t(entry.mode))
        archive_entry_set_mtime(header, time_t(entry.modificationTime), 0)
        try check(archive_write_header(a, header), a, "writing the header of \(entry.path)")
    }
}
