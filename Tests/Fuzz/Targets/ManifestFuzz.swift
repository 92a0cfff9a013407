// libFuzzer target: an archive's manifest.json and archive names from remote listings, both untrusted:
// `Manifest` decoding (Codable) and `ArchiveName(parsing:)`. Built by Scripts/fuzz with BackupModel's sources.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let manifest = try? JSONDecoder().decode(Manifest.self, from: bytes) {
        _ = try? JSONEncoder().encode(manifest)
    }
    if let text = String(data: bytes, encoding: .utf8) {
        _ = ArchiveName(parsing: text)
        _ = SessionIDs.match(text, among: ["3f2a9c01-aaaa", text])
    }
    return 0
}
