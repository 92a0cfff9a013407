import BackupArchive
@testable import BackupCore
import BackupTestSupport
import Foundation
import SystemPackage
import Testing

@Suite struct ParallelFramesTests {
    func file(_ bytes: [UInt8], in dir: TemporaryDirectory) throws -> (FileDescriptor, String) {
        let path = dir.file("x.zst")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (try FileDescriptor.open(path, .readOnly), path)
    }

    let data: [UInt8] = (0..<3_300_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 11 ^ ($0 >> 10)) }

    /// Whatever the thread count, the frames come out in order and make up the data.
    @Test(arguments: [1, 2, 4, 9])
    func framesComeBackInOrder(threads: Int) throws {
        let dir = TemporaryDirectory("frames")
        let (bytes, table) = try SeekableFixture.compress(data, frameSize: 200_000)
        let (fd, path) = try file(bytes, in: dir)
        defer { try? fd.close() }
        var out: [UInt8] = []
        var order: [Int] = []
        try ParallelFrames(source: ArchiveBytes(file: fd, path: path, size: Int64(bytes.count)), path: path, table: table, threads: threads).read(frames: 0..<table.frames.count) { index, content in
            order.append(index)
            out.append(contentsOf: content)
        }
        #expect(order == Array(0..<table.frames.count))
        #expect(out == data)
        // A range in the middle.
        var middle: [UInt8] = []
        try ParallelFrames(source: ArchiveBytes(file: fd, path: path, size: Int64(bytes.count)), path: path, table: table, threads: threads).read(frames: 3..<7) { _, content in middle.append(contentsOf: content) }
        #expect(middle == Array(data[600_000..<1_400_000]))
    }

    /// A damaged frame is 65 naming the archive, and no worker is left waiting.
    @Test func aDamagedFrameStopsTheRead() throws {
        let dir = TemporaryDirectory("frames")
        var (bytes, table) = try SeekableFixture.compress(data, frameSize: 200_000)
        let at = Int(table.offsets(of: 9).compressed) + Int(table.frames[9].compressedSize) / 2
        bytes[at] ^= 0x20
        let (fd, path) = try file(bytes, in: dir)
        defer { try? fd.close() }
        var delivered = 0
        let error = #expect(throws: BackupError.self) {
            try ParallelFrames(source: ArchiveBytes(file: fd, path: path, size: Int64(bytes.count)), path: path, table: table, threads: 2).read(frames: 0..<table.frames.count) { _, _ in delivered += 1 }
        }
        #expect(error?.code == .dataError)
        #expect(error?.message.contains(path) == true)
        #expect(delivered == 9)
        table.frames[0].decompressedSize += 1 // a table that lies about a size
        #expect(throws: BackupError.self) {
            try ParallelFrames(source: ArchiveBytes(file: fd, path: path, size: Int64(bytes.count)), path: path, table: table, threads: 2).read(frames: 0..<1) { _, _ in }
        }
    }

    /// What the consumer throws ends the read at once; the workers end too.
    @Test func theConsumersErrorEndsTheRead() throws {
        struct Enough: Error {}
        let dir = TemporaryDirectory("frames")
        let (bytes, table) = try SeekableFixture.compress(data, frameSize: 100_000)
        let (fd, path) = try file(bytes, in: dir)
        defer { try? fd.close() }
        #expect(throws: Enough.self) {
            try ParallelFrames(source: ArchiveBytes(file: fd, path: path, size: Int64(bytes.count)), path: path, table: table, threads: 4).read(frames: 0..<table.frames.count) { index, _ in
                if index == 2 { throw Enough() }
            }
        }
    }
}
