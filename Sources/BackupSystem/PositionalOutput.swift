import SystemPackage

/// Where bytes go at absolute offsets (`pwrite` semantics): a file, or a layer over one that transforms
/// them on the way (the archive writer writes through an encryptor; the encryptor writes to a file).
public protocol PositionalOutput: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
}

/// A file descriptor written with `pwrite` (swift-system's `writeAll(toAbsoluteOffset:)`); the caller
/// owns, syncs and closes it.
public final class DescriptorOutput: PositionalOutput {
    public let fileDescriptor: FileDescriptor
    public init(_ fileDescriptor: FileDescriptor) { self.fileDescriptor = fileDescriptor }
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        _ = try fileDescriptor.writeAll(toAbsoluteOffset: offset, bytes)
    }
}
