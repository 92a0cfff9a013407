import BackupArchive
import BackupDigest
import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// Archive format 2: independent frames and zstd's seek table, readable by stock tools, read in parallel
/// by verify and import, refused when damaged; format 1 archives still read.
@Suite struct FormatTwoTests {
    func exported(in dir: TemporaryDirectory, bytes: Int64 = 12_000_000) throws -> (archive: String, database: String) {
        let fixture = try Fixtures.database(in: dir, bytes: bytes, seed: 71, maxTerminalLog: 400_000)
        let archive = dir.file("two.tar.zst")
        let result = try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        return (archive, fixture.path)
    }

    func table(of archive: String) throws -> SeekTable {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        let size = try #require(try SeekTable.tableSize(footer: Array(bytes.suffix(SeekTable.footerSize))))
        return try SeekTable(parsing: Array(bytes.suffix(size)), fileSize: Int64(bytes.count))
    }

    @Test func stockToolsReadItAndTheTableMatchesTheFrames() throws {
        let dir = TemporaryDirectory("format2")
        let (archive, _) = try exported(in: dir)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(try ArchiveFixture.entries(of: archive)[0].bytes))
        #expect(manifest.formatVersion == 2)
        // Stock zstd and tar pass over the skippable frames.
        #expect(try Binary.run("/usr/bin/zstd", ["-t", "-q", archive]).status == 0)
        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: false)
        #expect(try Binary.run("/bin/tar", ["--zstd", "-xf", archive, "-C", dir.file("x")]).status == 0)
        let database = try #require(manifest.entries.first { $0.path == Manifest.databaseEntryName })
        #expect(SHA256.hex(of: try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("x/appdata.db"))))) == database.sha256)

        // The table: the head, its padding, then body frames of 4 MiB (the last shorter), each checksum the
        // frame's own content checksum (its last 4 bytes).
        let table = try table(of: archive)
        #expect(table.frames.count >= 4)
        #expect(table.frames[1].decompressedSize == 0)
        #expect(table.frames.dropFirst(2).dropLast().allSatisfy { $0.decompressedSize == 4 << 20 })
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        for index in [0] + Array(2..<table.frames.count) {
            let end = Int(table.offsets(of: index).compressed) + Int(table.frames[index].compressedSize)
            let tail = bytes[end - 4..<end].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(table.frames[index].checksum == tail, "frame \(index)")
        }
        #expect(try ptc(["verify", archive, "--quiet"]).status == 0)
    }

    /// A damaged table, or a damaged frame, is 65 and a restore leaves the target as it was.
    @Test(arguments: ["table", "frame", "footer-count"])
    func damageIsRefused(_ damage: String) throws {
        let dir = TemporaryDirectory("format2")
        let (archive, database) = try exported(in: dir)
        let table = try table(of: archive)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        let tableStart = bytes.count - (8 + table.frames.count * 12 + SeekTable.footerSize)
        switch damage {
        case "table": bytes[tableStart + 8 + 2 * 12] ^= 0x10            // a body frame's compressed size
        case "frame": bytes[Int(table.offsets(of: 3).compressed) + 200] ^= 0x04
        default: bytes[bytes.count - 9] ^= 0x01                          // the number of frames
        }
        try Data(bytes).write(to: URL(fileURLWithPath: archive))
        let verify = try ptc(["verify", archive])
        #expect(verify.status == 65, "\(verify.stdout)\(verify.stderr)")
        let target = dir.file("target.db")
        try FileManager.default.copyItem(atPath: database, toPath: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target))
        let restore = try ptc(["import", archive, "--db", target, "--mode", "restore", "--force", "--quiet"])
        #expect(restore.status == 65, "\(restore.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before)
    }

    /// A format 1 archive (one body frame, no seek table) still verifies and restores.
    @Test func formatOneArchivesStillRead() throws {
        let dir = TemporaryDirectory("format2")
        let (archive, _) = try exported(in: dir, bytes: 3_000_000)
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.formatVersion = 1
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let old = dir.file("one.tar.zst")
        try ArchiveFixture.write(entries, to: old, formatOne: true)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: old)))
        #expect(try SeekTable.tableSize(footer: Array(bytes.suffix(SeekTable.footerSize))) == nil)
        #expect(try ptc(["verify", old, "--quiet"]).status == 0)
        let restore = try ptc(["import", old, "--db", dir.file("restored.db"), "--mode", "restore", "--quiet"])
        #expect(restore.status == 0, "\(restore.stderr)")
    }
}
