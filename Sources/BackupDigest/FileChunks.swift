import SystemPackage

/// The one read loop of the digests: part of a file, 1 MiB at a time, with `pread`.
enum FileChunks {
    /// Hands `body` the bytes of `file` from `offset`, `length` of them or fewer when the file ends first.
    /// Returns how many were read.
    static func read(_ file: FileDescriptor, path: String, offset: Int64, length: Int64, buffer: UnsafeMutableRawBufferPointer,
                     _ body: (UnsafeRawBufferPointer) -> Void) throws(DigestError) -> Int64 {
        var position = offset
        var remaining = length
        while remaining > 0 {
            let n: Int
            do {
                n = try file.read(fromAbsoluteOffset: position,
                                  into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))]))
            } catch {
                throw DigestError(path: path, error)
            }
            if n == 0 { break }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += Int64(n)
            remaining -= Int64(n)
        }
        return position - offset
    }

    /// Opens `path` for reading, runs `body` with it and a 1 MiB buffer, and closes it.
    static func reading<T>(_ path: String, _ body: (FileDescriptor, UnsafeMutableRawBufferPointer) throws(DigestError) -> T) throws(DigestError) -> T {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        } catch {
            throw DigestError(path: path, error)
        }
        defer { try? file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        return try body(file, buffer)
    }
}
