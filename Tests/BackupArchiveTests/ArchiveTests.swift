import BackupArchive
import BackupDigest
import BackupTestSupport
import Foundation
import SystemPackage
import Testing

@Suite struct ArchiveTests {
    /// Writes `head` entries plus a streamed body the way exports do; returns the archive's path.
    func writeArchive(in dir: TemporaryDirectory, manifest: [UInt8], body: [UInt8], threads: Int = 2,
                      chunk: Int = 100_000) throws -> String {
        let path = dir.file("a.tar.zst")
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let head = try TarLayout.head(files: [(TarLayout.Entry(path: "manifest.json", size: Int64(manifest.count), modificationTime: 1_700_000_000), manifest)],
                                      body: TarLayout.Entry(path: "appdata.db", size: Int64(body.count), modificationTime: 1_700_000_000))
        #expect(head.count % 512 == 0)
        let writer = StreamedArchiveWriter(fileDescriptor: fd, compressionLevel: 3, threads: threads,
                                           headReservation: try StreamedArchiveWriter.reservation(for: head, level: 3), context: path)
        try writer.writeBody(size: Int64(body.count)) { write in
            for start in stride(from: 0, to: body.count, by: chunk) {
                try body[start..<min(start + chunk, body.count)].withUnsafeBytes { try write($0) }
            }
        }
        #expect(try writer.writeHead(head))
        #expect(writer.totalBytes == Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64))
        return path
    }

    @Test func headEntriesComeFirstAndTheBodyFollows() throws {
        let dir = TemporaryDirectory("archive")
        let body = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 7)) }
        let path = try writeArchive(in: dir, manifest: Array("{\"a\":1}".utf8), body: body)
        let reader = try ArchiveReader(path: path)
        let first = try #require(try reader.nextEntry())
        #expect(first.path == "manifest.json" && first.kind == .regular && first.size == 7 && first.modificationTime == 1_700_000_000)
        #expect(try reader.readAll(limit: 100) == Array("{\"a\":1}".utf8))
        let second = try #require(try reader.nextEntry())
        #expect(second.path == "appdata.db")
        #expect(try reader.readAll(limit: 10_000_000) == body)
        #expect(try reader.nextEntry() == nil)
    }

    @Test func standardToolsReadTheArchive() throws {
        let dir = TemporaryDirectory("archive")
        let body = Array(String(repeating: "PlanToCode 数据 ", count: 50_000).utf8)
        let path = try writeArchive(in: dir, manifest: Array("{}".utf8), body: body + [UInt8](repeating: 7, count: 3))
        let listing = try Binary.run("/bin/sh", ["-c", "zstd -dc \"$0\" | tar -tvf -", path])
        #expect(listing.status == 0, "\(listing.stderr)")
        #expect(listing.stdout.contains("manifest.json") && listing.stdout.contains("appdata.db"))
        let extract = try Binary.run("/bin/sh", ["-c", "cd \"$1\" && tar -I zstd -xf \"$0\" appdata.db", path, dir.path])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("appdata.db")))) == body + [7, 7, 7])
    }

    @Test func aBodyOfTheWrongSizeFails() throws {
        let dir = TemporaryDirectory("archive")
        let fd = try FileDescriptor.open(dir.file("a.tar.zst"), .writeOnly, options: [.create], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let writer = StreamedArchiveWriter(fileDescriptor: fd, compressionLevel: 3, threads: 1, headReservation: 4096, context: "a")
        #expect(throws: ArchiveError.self) {
            try writer.writeBody(size: 10) { write in try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try write($0) } }
        }
        #expect(throws: ArchiveError.self) {
            try writer.writeBody(size: 2) { write in try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try write($0) } }
        }
    }

    @Test func aHeadThatDoesNotFitIsRefusedAndNothingIsWritten() throws {
        let dir = TemporaryDirectory("archive")
        let fd = try FileDescriptor.open(dir.file("a.tar.zst"), .writeOnly, options: [.create], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let writer = StreamedArchiveWriter(fileDescriptor: fd, compressionLevel: 3, threads: 1, headReservation: 16, context: "a")
        let incompressible = TemporaryDirectory.randomBytes(4096)
        #expect(try writer.writeHead(incompressible) == false)
        #expect(try fd.seek(offset: 0, from: .end) == 0)
    }

    @Test func readingSomethingThatIsNotAnArchiveFails() throws {
        let dir = TemporaryDirectory("archive")
        try Data(repeating: 0x7A, count: 5000).write(to: URL(fileURLWithPath: dir.file("x.tar.zst")))
        #expect(throws: ArchiveError.self) {
            let reader = try ArchiveReader(path: dir.file("x.tar.zst"))
            _ = try reader.nextEntry()
        }
    }

    @Test func skippableFramesHaveTheirExactLength() {
        #expect(ZstdCompressor.skippableFrame(length: 8) == [0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0])
        #expect(ZstdCompressor.skippableFrame(length: 300).count == 300)
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex(of: Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func projectHashIsBlake2bWithA16ByteDigest() {
        #expect(ProjectHash.of("/home/user/project") == "46f6c2d18bd53fd116a0629c255b163d")
    }
}
