import BackupArchive
import BackupTestSupport
import Foundation
import Testing

@Suite struct SeekTableTests {
    func seekable(_ data: [UInt8], frameSize: Int) throws -> (bytes: [UInt8], table: SeekTable) {
        try SeekableFixture.compress(data, frameSize: frameSize)
    }

    func sample(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13 ^ ($0 >> 9)) }
    }

    @Test func aTableReadsBackAsWrittenAndStockZstdIgnoresIt() throws {
        let data = sample(2_500_000)
        let (bytes, table) = try seekable(data, frameSize: 1 << 20)
        #expect(table.frames.count == 3)
        let footer = Array(bytes.suffix(SeekTable.footerSize))
        let size = try #require(try SeekTable.tableSize(footer: footer))
        #expect(size == 8 + 3 * 12 + 9)
        let parsed = try SeekTable(parsing: Array(bytes.suffix(size)), fileSize: Int64(bytes.count))
        #expect(parsed == table && parsed.hasChecksums)
        #expect(parsed.decompressedSize == Int64(data.count))
        #expect(parsed.offsets(of: 2).decompressed == 2 << 20)

        // The stock zstd tool decompresses the whole file (the table is a skippable frame).
        let dir = TemporaryDirectory("seek")
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("x.zst")))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        process.arguments = ["-q", "-d", dir.file("x.zst"), "-o", dir.file("x")]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("x"))) == Data(data))
    }

    @Test func eachFrameDecompressesOnItsOwn() throws {
        let data = sample(2_500_000)
        let (bytes, table) = try seekable(data, frameSize: 1 << 20)
        let decoder = try ZstdFrameDecoder()
        for index in table.frames.indices.reversed() {
            let (compressed, decompressed) = table.offsets(of: index)
            let frame = table.frames[index]
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(frame.decompressedSize), alignment: 16)
            defer { output.deallocate() }
            try bytes[Int(compressed)..<Int(compressed) + Int(frame.compressedSize)].withUnsafeBytes {
                try decoder.decompress(frame: $0, into: output, context: "frame \(index)")
            }
            #expect(Array(output) == Array(data[Int(decompressed)..<Int(decompressed) + Int(frame.decompressedSize)]))
        }
    }

    /// Every way a table can lie is an error naming the seek table, never a crash or a wrong answer.
    @Test func aDamagedTableIsRefused() throws {
        let (bytes, table) = try seekable(sample(300_000), frameSize: 100_000)
        let size = 8 + table.frames.count * 12 + 9
        func parse(_ file: [UInt8]) throws {
            let footer = Array(file.suffix(SeekTable.footerSize))
            guard let size = try SeekTable.tableSize(footer: footer), size <= file.count else {
                throw ArchiveError(code: -1, errno: 0, message: "no seek table", context: "test")
            }
            _ = try SeekTable(parsing: Array(file.suffix(size)), fileSize: Int64(file.count))
        }
        try parse(bytes)
        // A flipped byte in each field: entries (sizes), frame count, descriptor, both magics.
        for offset in [bytes.count - size + 1, bytes.count - size + 5, bytes.count - size + 9, bytes.count - 9, bytes.count - 5, bytes.count - 1] {
            var damaged = bytes
            damaged[offset] ^= 0x40
            #expect(throws: ArchiveError.self, "byte \(offset - (bytes.count - size)) of the table") { try parse(damaged) }
        }
        // A table cut short, or frames missing before it.
        #expect(throws: ArchiveError.self) { try parse(Array(bytes.suffix(size - 1))) }
        #expect(throws: ArchiveError.self) { try parse(Array(bytes.dropFirst(10))) }
    }

    @Test func aFrameThatDisagreesWithTheTableIsRefused() throws {
        let data = sample(200_000)
        let (bytes, table) = try seekable(data, frameSize: 100_000)
        let decoder = try ZstdFrameDecoder()
        let frame = table.frames[0]
        // The wrong decompressed size, a cut frame, a flipped byte (the content checksum catches it).
        let tooSmall = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(frame.decompressedSize) - 1, alignment: 16)
        defer { tooSmall.deallocate() }
        #expect(throws: ArchiveError.self) {
            try bytes[0..<Int(frame.compressedSize)].withUnsafeBytes { try decoder.decompress(frame: $0, into: tooSmall, context: "x") }
        }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(frame.decompressedSize), alignment: 16)
        defer { output.deallocate() }
        #expect(throws: ArchiveError.self) {
            try bytes[0..<Int(frame.compressedSize) - 1].withUnsafeBytes { try decoder.decompress(frame: $0, into: output, context: "x") }
        }
        var flipped = Array(bytes[0..<Int(frame.compressedSize)])
        flipped[flipped.count / 2] ^= 0x01
        #expect(throws: ArchiveError.self) {
            try flipped.withUnsafeBytes { try decoder.decompress(frame: $0, into: output, context: "x") }
        }
    }
}
