import BackupArchive

/// Files in zstd's seekable format, written frame by frame the way format 2 archives are.
public enum SeekableFixture {
    /// Compresses `data` as independent frames of `frameSize` bytes (each with its size pledged and a
    /// content checksum), then appends the seek table; returns the file's bytes and the table.
    public static func compress(_ data: [UInt8], frameSize: Int) throws -> (bytes: [UInt8], table: SeekTable) {
        let compressor = try ZstdCompressor(level: 3, workers: 0, name: "test")
        var out: [UInt8] = []
        var table = SeekTable()
        for start in stride(from: 0, to: data.count, by: frameSize) {
            let piece = Array(data[start..<min(start + frameSize, data.count)])
            let before = out.count
            try compressor.pledgeFrameSize(Int64(piece.count))
            try piece.withUnsafeBytes { bytes in
                try compressor.compress(bytes) { out.append(contentsOf: $0) }
                try compressor.finish { out.append(contentsOf: $0) }
            }
            let frame = out[before...]
            let checksum = frame.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            table.frames.append(.init(compressedSize: UInt32(frame.count), decompressedSize: UInt32(piece.count), checksum: checksum))
        }
        out += table.encoded()
        return (out, table)
    }

}
