@testable import BackupAge
import BackupTestSupport
import Foundation
import SystemPackage
import Testing

/// Reading an age file's plaintext at any offset: every range reads back as written, and a file cut at a
/// chunk boundary, with data after its end, or with a flipped byte fails where it is read.
@Suite struct AgeRandomAccessTests {
    let identity = AgeIdentity.generate()

    func file(_ bytes: [UInt8], in dir: TemporaryDirectory) throws -> (FileDescriptor, Int64) {
        let path = dir.file("x.age")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (try FileDescriptor.open(path, .readOnly), Int64(bytes.count))
    }

    @Test(arguments: [1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 5])
    func everyRangeReadsBack(size: Int) throws {
        let dir = TemporaryDirectory("age-random")
        let plaintext = TemporaryDirectory.randomBytes(size)
        let sink = try encrypt(plaintext, to: [identity.recipient])
        let (fd, fileSize) = try file(sink.bytes, in: dir)
        defer { try? fd.close() }
        let access = try AgeRandomAccess(identities: [identity], file: fd, fileSize: fileSize)
        #expect(access.plaintextSize == Int64(size))
        for (offset, count) in [(0, size), (0, 1), (size - 1, 1), (size / 2, 70_000), (65535, 3), (65536, 65536)] where offset >= 0 && offset < size {
            var buffer = [UInt8](repeating: 0, count: count)
            let n = try buffer.withUnsafeMutableBytes { try access.read(into: $0, at: Int64(offset)) }
            #expect(n == min(count, size - offset))
            #expect(Array(buffer.prefix(n)) == Array(plaintext[offset..<offset + n]), "offset \(offset), count \(count)")
        }
    }

    @Test func damageFailsWhereItIsRead() throws {
        let dir = TemporaryDirectory("age-random")
        let plaintext = TemporaryDirectory.randomBytes(3 * 65536 + 100)
        let good = try encrypt(plaintext, to: [identity.recipient]).bytes
        let payload = good.count - (3 * 65552 + 100 + 16)
        func readAll(_ bytes: [UInt8]) throws {
            let (fd, size) = try file(bytes, in: dir)
            defer { try? fd.close() }
            let access = try AgeRandomAccess(identities: [identity], file: fd, fileSize: size)
            var buffer = [UInt8](repeating: 0, count: Int(access.plaintextSize))
            _ = try buffer.withUnsafeMutableBytes { try access.read(into: $0, at: 0) }
        }
        try readAll(good)
        var flipped = good
        flipped[payload + 65552 + 10] ^= 1                                        // inside chunk 1
        #expect(throws: AgeError.self) { try readAll(flipped) }
        #expect(throws: AgeError.self) { try readAll(Array(good.prefix(payload + 2 * 65552))) } // cut after chunk 1
        #expect(throws: AgeError.self) { try readAll(good + [0]) }                 // a byte after the end
        #expect(throws: AgeError.self) { try readAll(good + [UInt8](repeating: 7, count: 65552)) }
        #expect(throws: AgeError.self) {
            let (fd, size) = try file(good, in: dir)
            defer { try? fd.close() }
            _ = try AgeRandomAccess(identities: [AgeIdentity.generate()], file: fd, fileSize: size)
        }
    }
}
