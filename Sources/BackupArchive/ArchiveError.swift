import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// A failure reported by libarchive: its return code, its errno (0 when none), its message,
/// and what we were doing (the archive path or the entry).
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let errno: Int32
    public let message: String
    public let context: String
    /// What a caller's read or write function threw, when that is why libarchive or the writer failed
    /// (a decryption error, for example).
    public var underlying: (any Error & Sendable)?

    public init(code: Int32, errno: Int32, message: String, context: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.errno = errno
        self.message = message
        self.context = context
        self.underlying = underlying
    }

    init(code: Int32, archive: OpaquePointer?, context: String) {
        let message = archive.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "libarchive failed (code \(code))"
        self.init(code: code, errno: archive.map { archive_errno($0) } ?? 0, message: message, context: context)
    }

    /// True when the underlying write failed because the disk (or the file size limit) is full.
    public var isNoSpace: Bool { errno == ENOSPC || errno == EFBIG || errno == EDQUOT }

    public var description: String { "\(message) while \(context)" }
}

@inline(__always)
func check(_ code: Int32, _ archive: OpaquePointer?, _ context: @autoclosure () -> String) throws(ArchiveError) {
    // Warnings are failures too: an option libarchive did not understand comes back as ARCHIVE_WARN.
    guard code == ARCHIVE_OK else { throw ArchiveError(code: code, archive: archive, context: context()) }
}
