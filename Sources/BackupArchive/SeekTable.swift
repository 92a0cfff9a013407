/// The seek table of zstd's seekable format (facebook/zstd, contrib/seekable_format, version 0.1.0): a
/// skippable frame at the end of a file of independent frames, listing each frame's compressed and
/// decompressed size (and, with the checksum flag, the low 32 bits of the XXH64 of its content, which a zstd
/// frame written with content checksums carries in its last 4 bytes). Readers that do not know the format
/// skip it as any skippable frame; readers that do can find any byte without decompressing what comes before,
/// and decompress frames on several cores.
///
/// Layout (little-endian): `magic 0x184D2A5E | frame size | entries (8 or 12 bytes each) | number of frames |
/// descriptor (bit 7: checksums; bits 6-2 reserved, 0) | seekable magic 0x8F92EAB1`.
public struct SeekTable: Equatable, Sendable {
    public struct Frame: Equatable, Sendable {
        public var compressedSize: UInt32
        public var decompressedSize: UInt32
        public var checksum: UInt32?

        public init(compressedSize: UInt32, decompressedSize: UInt32, checksum: UInt32? = nil) {
            self.compressedSize = compressedSize
            self.decompressedSize = decompressedSize
            self.checksum = checksum
        }
    }

    public var frames: [Frame]

    public init(frames: [Frame] = []) { self.frames = frames }

    static let skippableMagic: UInt32 = 0x184D_2A5E
    static let seekableMagic: UInt32 = 0x8F92_EAB1
    public static let footerSize = 9
    /// zstd's own limits (`ZSTD_SEEKABLE_MAXFRAMES`, `ZSTD_SEEKABLE_MAX_FRAME_DECOMPRESSED_SIZE`).
    public static let maxFrames = 0x800_0000
    public static let maxFrameDecompressedSize: UInt32 = 0x4000_0000
    /// The checksum of an empty frame's content (a skippable frame): the low 32 bits of XXH64 of nothing.
    public static let emptyChecksum: UInt32 = 0x51D8_E999

    /// Whether every entry carries a checksum (all or none: the descriptor has one flag).
    public var hasChecksums: Bool { !frames.isEmpty && frames.allSatisfy { $0.checksum != nil } }

    /// Where frame `index` starts in the file, and in the decompressed stream.
    public func offsets(of index: Int) -> (compressed: Int64, decompressed: Int64) {
        var compressed: Int64 = 0, decompressed: Int64 = 0
        for frame in frames[..<index] {
            compressed += Int64(frame.compressedSize)
            decompressed += Int64(frame.decompressedSize)
        }
        return (compressed, decompressed)
    }

    public var compressedSize: Int64 { frames.reduce(0) { $0 + Int64($1.compressedSize) } }
    public var decompressedSize: Int64 { frames.reduce(0) { $0 + Int64($1.decompressedSize) } }

    /// The table as the skippable frame that ends the file.
    public func encoded() -> [UInt8] {
        let checksums = hasChecksums
        let entrySize = checksums ? 12 : 8
        var out: [UInt8] = []
        out.reserveCapacity(8 + frames.count * entrySize + Self.footerSize)
        func put(_ value: UInt32) {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        put(Self.skippableMagic)
        put(UInt32(frames.count * entrySize + Self.footerSize))
        for frame in frames {
            put(frame.compressedSize)
            put(frame.decompressedSize)
            if checksums { put(frame.checksum ?? 0) }
        }
        put(UInt32(frames.count))
        out.append(checksums ? 0x80 : 0)
        put(Self.seekableMagic)
        return out
    }

    /// How many bytes at the end of a file hold the table, from its last ``footerSize`` bytes; nil when they
    /// are not a seek table's footer (a file written without one).
    /// - Throws: ``ArchiveError`` for a footer that claims a table it cannot be (reserved bits, too many frames).
    public static func tableSize(footer: [UInt8]) throws(ArchiveError) -> Int? {
        guard footer.count == footerSize, read32(footer, 5) == seekableMagic else { return nil }
        let count = Int(read32(footer, 0))
        let descriptor = footer[4]
        guard descriptor & 0x7C == 0 else { throw damaged("its descriptor has reserved bits set (\(descriptor))") }
        guard count <= maxFrames else { throw damaged("it claims \(count) frames") }
        return 8 + count * (descriptor & 0x80 != 0 ? 12 : 8) + footerSize
    }

    /// Parses the table from the file's last ``tableSize(footer:)`` bytes, checking it against the file: the
    /// frames must exactly fill the `fileSize` bytes before the table.
    /// - Throws: ``ArchiveError`` naming what is wrong with a damaged table.
    public init(parsing bytes: [UInt8], fileSize: Int64) throws(ArchiveError) {
        guard bytes.count >= 8 + Self.footerSize,
              let size = try Self.tableSize(footer: Array(bytes.suffix(Self.footerSize))), size == bytes.count else {
            throw Self.damaged("its size does not match its footer")
        }
        guard Self.read32(bytes, 0) == Self.skippableMagic else { throw Self.damaged("it is not in a skippable frame") }
        guard Int(Self.read32(bytes, 4)) == bytes.count - 8 else { throw Self.damaged("its frame size is wrong") }
        let count = Int(Self.read32(bytes, bytes.count - 9))
        let checksums = bytes[bytes.count - 5] & 0x80 != 0
        let entrySize = checksums ? 12 : 8
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        var compressed: Int64 = 0
        for index in 0..<count {
            let at = 8 + index * entrySize
            let frame = Frame(compressedSize: Self.read32(bytes, at), decompressedSize: Self.read32(bytes, at + 4),
                              checksum: checksums ? Self.read32(bytes, at + 8) : nil)
            guard frame.decompressedSize <= Self.maxFrameDecompressedSize else {
                throw Self.damaged("frame \(index) claims \(frame.decompressedSize) bytes decompressed")
            }
            guard frame.compressedSize >= 8 else { throw Self.damaged("frame \(index) claims \(frame.compressedSize) bytes") }
            compressed += Int64(frame.compressedSize)
            frames.append(frame)
        }
        guard compressed == fileSize - Int64(bytes.count) else {
            throw Self.damaged("its frames add up to \(compressed) bytes, but \(fileSize - Int64(bytes.count)) precede it")
        }
        self.frames = frames
    }

    private static func read32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    private static func damaged(_ why: String) -> ArchiveError {
        ArchiveError(code: -1, errno: 0, message: "the archive's seek table is damaged: \(why)", context: "reading the seek table")
    }
}
