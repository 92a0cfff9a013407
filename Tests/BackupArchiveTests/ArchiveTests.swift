import BackupArchive
import BackupDigest
import BackupTestSupport
import Foundation
import Testing

@Suite struct ArchiveTests {
    @Test func writesAndReadsEntriesInOrder() throws {
        let dir = TemporaryDirectory("archive")
        let path = dir.file("a.tar.zst")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        var observed = 0
        let writer = try ArchiveWriter(fileDescriptor: fd, compressionLevel: 3, threads: 2, context: path) { observed += $0.count }
        try writer.writeEntry(path: "manifest.json", contents: Array("{\"a\":1}".utf8), modificationTime: 1_700_000_000)
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 7)) }
        try writer.writeEntry(path: "appdata.db", size: Int64(big.count), modificationTime: 1_700_000_000) { write in
            for start in stride(from: 0, to: big.count, by: 100_000) {
                try big[start..<min(start + 100_000, big.count)].withUnsafeBytes { try write($0) }
            }
        }
        try writer.close()
        close(fd)
        #expect(observed == Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64))

        let reader = try ArchiveReader(path: path)
        let first = try #require(try reader.nextEntry())
        #expect(first.path == "manifest.json" && first.kind == .regular && first.size == 7 && first.modificationTime == 1_700_000_000)
        #expect(try reader.readAll(limit: 100) == Array("{\"a\":1}".utf8))
        let second = try #require(try reader.nextEntry())
        #expect(second.path == "appdata.db")
        #expect(try reader.readAll(limit: 10_000_000) == big)
        #expect(try reader.nextEntry() == nil)
    }

    @Test func entryThatProducesTheWrongSizeFails() throws {
        let dir = TemporaryDirectory("archive")
        let fd = open(dir.file("a.tar.zst"), O_WRONLY | O_CREAT, 0o600)
        defer { close(fd) }
        let writer = try ArchiveWriter(fileDescriptor: fd, compressionLevel: 3, threads: 1, context: "a")
        #expect(throws: ArchiveError.self) {
            try writer.writeEntry(path: "x", size: 10, modificationTime: 0) { write in
                try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try write($0) }
            }
        }
    }

    @Test func badCompressionOptionIsAnErrorNotAWarning() throws {
        let dir = TemporaryDirectory("archive")
        let fd = open(dir.file("a.tar.zst"), O_WRONLY | O_CREAT, 0o600)
        defer { close(fd) }
        #expect(throws: ArchiveError.self) {
            _ = try ArchiveWriter(fileDescriptor: fd, compressionLevel: 99, threads: 1, context: "a")
        }
    }

    @Test func readingSomethingThatIsNotAnArchiveFails() throws {
        let dir = TemporaryDirectory("archive")
        try Data(repeating: 0x7A, count: 5000).write(to: URL(fileURLWithPath: dir.file("x.tar.zst")))
        #expect(throws: ArchiveError.self) {
            let reader = try ArchiveReader(path: dir.file("x.tar.zst"))
            _ = try reader.nextEntry()
        }
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex(of: Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func projectHashIsBlake2bWithA16ByteDigest() {
        #expect(ProjectHash.of("/home/user/project") == "46f6c2d18bd53fd116a0629c255b163d")
    }
}
