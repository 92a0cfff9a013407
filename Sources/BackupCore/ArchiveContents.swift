import BackupArchive
import BackupModel
import Foundation

/// Reads an archive's manifest (always its first entry) and checks entry names for safety.
public enum ArchiveContents {
    /// The largest manifest we accept; real ones are a few KB to a few MB.
    static let manifestLimit = 64 << 20

    /// Opens `path` and reads its manifest, leaving the reader positioned after it. An age-encrypted
    /// archive (known by its first line, whatever its name) is decrypted on the fly with `keys`.
    /// - Throws: ``BackupError``: `noInput` for a missing file, `dataError` for anything that is
    ///   not an archive of ours (or does not decrypt), `noPermission` for an encrypted archive without a
    ///   key that opens it.
    static func open(_ path: String, keys: ArchiveKeys = .none) throws -> (ArchiveReader, Manifest) {
        guard FileSystem.exists(path) else { throw BackupError(.noInput, "archive not found: \(path) does not exist") }
        guard !FileSystem.isDirectory(path) else { throw BackupError(.noInput, "\(path) is a folder, not an archive") }
        do {
            let reader = try ArchiveEncryptionInfo.isEncrypted(path) ? try ArchiveEncryptionInfo.openReader(path, keys: keys)
                                                                     : try ArchiveReader(path: path)
            guard let first = try reader.nextEntry() else {
                throw BackupError(.dataError, "\(path) is an empty archive (no manifest.json)")
            }
            guard first.path == Manifest.entryName, first.kind == .regular else {
                throw BackupError(.dataError, "\(path) is not a ptc-backup archive: its first entry is '\(first.path)', not manifest.json")
            }
            let bytes = try reader.readAll(limit: manifestLimit)
            let manifest = try decode(bytes, path: path)
            return (reader, manifest)
        } catch let error as ArchiveError {
            throw BackupError.archive(error, "reading the archive", path: path, writing: false)
        }
    }

    /// Reads only the manifest of the archive at `path`.
    public static func manifest(of path: String, keys: ArchiveKeys = .none) throws -> Manifest {
        let (reader, manifest) = try open(path, keys: keys)
        reader.close()
        return manifest
    }

    /// Checks that `path` is an archive before it is sent somewhere: its manifest, or for an encrypted
    /// archive its age header, and its manifest too when `keys` are given (77 when none opens it).
    /// Returns the manifest, nil for an encrypted archive read without keys.
    @discardableResult
    public static func check(_ path: String, keys: ArchiveKeys = .none) throws -> Manifest? {
        guard FileSystem.exists(path) else { throw BackupError(.noInput, "archive not found: \(path) does not exist") }
        if try ArchiveEncryptionInfo.isEncrypted(path), keys.isEmpty {
            try ArchiveEncryptionInfo.checkHeader(path)
            return nil
        }
        return try manifest(of: path, keys: keys)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> Manifest {
        struct VersionProbe: Decodable {
            struct Tool: Decodable { let name: String?; let version: String? }
            let formatVersion: Int
            let tool: Tool?
        }
        let data = Data(bytes)
        guard let probe = try? JSONDecoder().decode(VersionProbe.self, from: data) else {
            throw BackupError(.dataError, "\(path): manifest.json is not valid JSON or has no formatVersion")
        }
        guard probe.formatVersion >= 1 else {
            throw BackupError(.dataError, "\(path): manifest format \(probe.formatVersion) is not a format any ptc-backup writes (1 to \(Manifest.currentFormatVersion))")
        }
        guard probe.formatVersion <= Manifest.currentFormatVersion else {
            let writer = probe.tool?.version.map { "ptc-backup \($0.prefix(40))" }
            throw BackupError(.dataError, "\(path): archive format \(probe.formatVersion) is newer than this ptc-backup \(ToolVersion.version) reads (formats 1 to \(Manifest.currentFormatVersion))"
                + (writer.map { "; it was written by \($0): upgrade to that version or later to read it" } ?? "; upgrade ptc-backup to read it"))
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw BackupError(.dataError, "\(path): manifest.json does not match format \(probe.formatVersion): \(Self.describe(error))")
        }
    }

    /// Why an entry name is unsafe to extract, or nil when it is a plain relative path.
    public static func unsafeReason(_ name: String) -> String? {
        if name.isEmpty { return "an empty name" }
        if name.hasPrefix("/") { return "an absolute path" }
        if name.utf8.contains(0) { return "a NUL byte" }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains("..") { return "a '..' component" }
        if parts.contains("") && !(parts.count == 2 && parts.last == "") { return "an empty path component" }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "bad value at '\(path)': \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
