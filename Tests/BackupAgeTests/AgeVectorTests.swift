@testable import BackupAge
import BackupDigest
import BackupTestSupport
import Foundation
import Testing

/// One C2SP/CCTV age test vector: its textual header and the age file after the blank line.
struct AgeVector: CustomStringConvertible {
    let name: String
    var fields: [(key: String, value: String)] = []
    var file: [UInt8] = []

    func values(_ key: String) -> [String] { fields.filter { $0.key == key }.map(\.value) }
    var expect: String { values("expect").first ?? "" }
    var description: String { name }

    init(path: String) throws {
        name = (path as NSString).lastPathComponent
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var index = 0
        while true {
            guard let newline = data[index...].firstIndex(of: 0x0a) else { throw TestFailure("\(name): no blank line") }
            let line = String(decoding: data[index..<newline], as: UTF8.self)
            index = newline + 1
            if line.isEmpty { break }
            guard let colon = line.range(of: ": ") else { throw TestFailure("\(name): bad line \(line)") }
            fields.append((String(line[..<colon.lowerBound]), String(line[colon.upperBound...])))
        }
        file = Array(data[index...])
        if values("compressed").first == "zlib" { file = try Self.inflate(file, name: name) }
    }

    /// zlib-inflates with python3's zlib (the package links no zlib of its own).
    static func inflate(_ bytes: [UInt8], name: String) throws -> [UInt8] {
        let dir = TemporaryDirectory("age-vector")
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("in")))
        let result = try Binary.run("/usr/bin/env", ["python3", "-c",
            "import sys, zlib; open(sys.argv[2], 'wb').write(zlib.decompress(open(sys.argv[1], 'rb').read()))",
            dir.file("in"), dir.file("out")])
        guard result.status == 0 else { throw TestFailure("\(name): zlib inflate failed: \(result.stderr)") }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("out"))))
    }

    /// Why this implementation skips the vector, or nil when it runs it.
    var skipReason: String? {
        if values("armored").first == "yes" || name.hasPrefix("armor") { return "armor" }
        let identities = values("identity")
        if !identities.isEmpty && identities.allSatisfy({ $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) { return "hybrid (ML-KEM)" }
        return nil
    }

    static func all() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: AgeResources.vectors).sorted()
    }
}

@Suite struct AgeVectorTests {
    static let names: [String] = (try? AgeVector.all()) ?? []

    @Test func theVectorsAreAllThere() throws {
        #expect(Self.names.count == 143)
        var skipped: [String: [String]] = [:]
        for name in Self.names {
            let vector = try AgeVector(path: (AgeResources.vectors as NSString).appendingPathComponent(name))
            if let reason = vector.skipReason { skipped[reason, default: []].append(name) }
        }
        for (reason, names) in skipped.sorted(by: { $0.key < $1.key }) {
            print("age vectors skipped (\(reason)): \(names.count): \(names.joined(separator: " "))")
        }
        let run = Self.names.count - skipped.values.map(\.count).reduce(0, +)
        print("age vectors run: \(run) of \(Self.names.count)")
        // Every vector but the 33 armored and the 17 with only a hybrid identity runs.
        #expect(run == 93)
        for prefix in ["x25519", "scrypt", "stream", "stanza", "hmac", "header", "version", "empty"] {
            #expect(!(skipped.values.joined().contains { $0.hasPrefix(prefix) }), "\(prefix) vectors must not be skipped")
        }
    }

    @Test(arguments: names)
    func vector(_ name: String) throws {
        let vector = try AgeVector(path: (AgeResources.vectors as NSString).appendingPathComponent(name))
        guard vector.skipReason == nil else { return }
        var identities: [any AgeIdentityProtocol] = []
        for text in vector.values("identity") where !text.hasPrefix("AGE-SECRET-KEY-PQ-") {
            identities.append(try AgeIdentity(text))
        }
        for passphrase in vector.values("passphrase") { identities.append(try AgePassphrase(passphrase)) }
        let (plaintext, error) = decryptAll(vector.file, identities: identities)
        switch vector.expect {
        case "success":
            #expect(error == nil, "\(name): \(String(describing: error))")
        case "no match":
            guard case .noMatchingIdentity = error else { Issue.record("\(name): expected no match, got \(String(describing: error))"); return }
        case "HMAC failure":
            #expect(error == .headerMACMismatch, "\(name): got \(String(describing: error))")
        case "header failure":
            guard case .malformedHeader = error else { Issue.record("\(name): expected header failure, got \(String(describing: error))"); return }
        case "payload failure":
            guard case .damagedPayload = error else { Issue.record("\(name): expected payload failure, got \(String(describing: error))"); return }
        default:
            Issue.record("\(name): unknown expect \(vector.expect)")
        }
        if let payload = vector.values("payload").first {
            #expect(SHA256.hex(of: plaintext) == payload, "\(name): released plaintext differs")
        }
    }
}
