import BackupAge
import BackupArchive
import BackupSystem
import Foundation
import SystemPackage

/// Whom an export encrypts its archive to (age: X25519 recipients, or one passphrase).
public struct ArchiveEncryption: Sendable {
    let recipients: [any AgeRecipientProtocol]

    /// Whether a passphrase encrypts (then the archive needs no identity file to be read back).
    public var usesPassphrase: Bool { recipients.contains { $0 is AgePassphrase } }

    /// The recipients from `--encrypt-to` strings and `--encrypt-to-file` files (age's recipients files),
    /// or a passphrase (which age allows only alone). `workFactor` is scrypt's log2 N (age's default 18).
    /// - Throws: ``BackupError`` `usage` for a bad recipient or a passphrase mixed with recipients,
    ///   `noInput` for a missing recipients file.
    public init(recipients: [String], recipientFiles: [String], passphrase: String?, workFactor: Int = 18) throws(BackupError) {
        do {
            var list: [any AgeRecipientProtocol] = []
            for text in recipients { list.append(try AgeRecipient(text.trimmingCharacters(in: .whitespaces))) }
            for file in recipientFiles {
                list += try AgeRecipient.parseFile(try Self.readKeyFile(file, what: "recipients file"), name: file)
            }
            if let passphrase {
                guard list.isEmpty else {
                    throw BackupError.usage("--passphrase cannot be combined with --encrypt-to or --encrypt-to-file (age allows a passphrase only alone)")
                }
                list.append(try AgePassphrase(passphrase, workFactor: workFactor))
            }
            guard !list.isEmpty else { throw BackupError.usage("no recipients to encrypt to") }
            self.recipients = list
        } catch let error as AgeError {
            throw BackupError(error, path: "the recipients")
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError(.software, "reading the recipients: \(error)")
        }
    }

    /// A file's text, for key and recipient files (small).
    static func readKeyFile(_ path: String, what: String) throws(BackupError) -> String {
        guard FileSystem.exists(path) else { throw BackupError(.noInput, "\(what) not found: \(path)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackupError(.noPermission, "cannot read the \(what) \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// What can open encrypted archives: age identities (`--identity` files) and a passphrase.
public struct ArchiveKeys: Sendable {
    let identities: [any AgeIdentityProtocol]

    public static let none = ArchiveKeys(identities: [])
    public var isEmpty: Bool { identities.isEmpty }

    init(identities: [any AgeIdentityProtocol]) { self.identities = identities }

    /// Identities from identity files (as age-keygen writes them) and an optional passphrase.
    /// - Throws: ``BackupError`` `noInput` for a missing file, `usage` for one that holds no identity.
    public init(identityFiles: [String], passphrase: String?) throws(BackupError) {
        var list: [any AgeIdentityProtocol] = []
        do {
            for file in identityFiles {
                list += try AgeIdentity.parseFile(try ArchiveEncryption.readKeyFile(file, what: "identity file"), name: file)
            }
            if let passphrase { list.append(try AgePassphrase(passphrase)) }
        } catch let error as AgeError {
            throw BackupError(error, path: "the identity")
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError(.software, "reading the identities: \(error)")
        }
        identities = list
    }

    /// These keys and the passphrase `encryption` encrypts with (a passphrase opens what it encrypted);
    /// what reads back an archive this process just wrote.
    public func adding(_ encryption: ArchiveEncryption?) -> ArchiveKeys {
        ArchiveKeys(identities: identities + (encryption?.recipients.compactMap { $0 as? AgePassphrase } ?? []))
    }
}

/// `ptc-backup keygen`: a new X25519 identity and the text age-keygen writes for it.
public enum KeyGeneration {
    /// The identity file's text and the recipient (`age1...`).
    public static func generate(now: Date = Date()) -> (file: String, recipient: String) {
        let identity = AgeIdentity.generate()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone.current
        return (identity.identityFile(created: formatter.string(from: now)), identity.recipient.string)
    }

    /// Writes a new identity file at `path` (mode 0600, never over an existing file: `cantCreate`).
    /// Returns the recipient.
    public static func write(to path: String, now: Date = Date()) throws(BackupError) -> String {
        try BackupError.atBoundary("writing the identity file") {
            let (text, recipient) = generate(now: now)
            let fd = try FileSystem.createExclusive(path, doing: "creating the identity file")
            defer { try? fd.close() }
            try Array(text.utf8).withUnsafeBytes { try FileSystem.write(fd, $0, path: path, doing: "writing the identity file") }
            try FileSystem.sync(fd, path: path, doing: "syncing the identity file")
            return recipient
        }
    }
}

extension BackupError {
    /// The exit code of an age failure: a key that does not fit is 77, damaged data 65, a bad key string 64.
    init(_ error: AgeError, path: String, file: String = #fileID, line: Int = #line) {
        switch error {
        case .noMatchingIdentity(let types):
            self.init(.noPermission, "\(path): \(ArchiveEncryptionInfo.describe(types)); none of the given identities opens it", cause: error, file: file, line: line)
        case .malformedHeader, .headerMACMismatch, .damagedPayload:
            self.init(.dataError, "\(path): \(error)", cause: error, file: file, line: line)
        case .invalidKey:
            self.init(.usage, "\(path): \(error)", cause: error, file: file, line: line)
        case .misuse:
            self.init(.software, "\(path): \(error)", cause: error, file: file, line: line)
        }
    }
}

/// What an encrypted archive's header says without a key.
enum ArchiveEncryptionInfo {
    static let magic = Array("age-encryption.org/v1\n".utf8)

    /// "encrypted to 2 recipients (X25519)" or "encrypted with a passphrase".
    static func describe(_ types: [String]) -> String {
        if types == ["scrypt"] { return "encrypted with a passphrase" }
        let kinds = Set(types).sorted().joined(separator: ", ")
        return "encrypted to \(types.count) recipient\(types.count == 1 ? "" : "s") (\(kinds))"
    }

    /// Whether the file at `path` is an age file (its first line).
    static func isEncrypted(_ path: String) throws -> Bool {
        let fd = try FileSystem.openForReading(path, doing: "opening the archive")
        defer { try? fd.close() }
        var first = [UInt8](repeating: 0, count: magic.count)
        let n = try first.withUnsafeMutableBytes { try FileSystem.read(fd, into: $0, at: 0, path: path, doing: "reading the archive") }
        return n == magic.count && first == magic
    }

    /// Parses the age header of the encrypted archive at `path` (65 when it is damaged).
    static func checkHeader(_ path: String) throws {
        let fd = try FileSystem.openForReading(path, doing: "opening the archive")
        let owner = DescriptorOwner(fd)
        do {
            _ = try AgeDecryptor.readHeader { buffer in try owner.fd.read(into: buffer) }
        } catch {
            throw BackupError(error, path: path)
        }
    }

    /// Opens an encrypted archive for reading through a decryptor; exit 77 without a key that fits.
    static func openReader(_ path: String, keys: ArchiveKeys) throws -> ArchiveReader {
        let fd = try FileSystem.openForReading(path, doing: "opening the archive")
        let owner = DescriptorOwner(fd)
        let readFile: (UnsafeMutableRawBufferPointer) throws -> Int = { buffer in try owner.fd.read(into: buffer) }
        guard !keys.isEmpty else {
            let header: AgeHeader
            do {
                header = try AgeDecryptor.readHeader(source: readFile)
            } catch {
                throw BackupError(error, path: path)
            }
            let hint = header.stanzaTypes == ["scrypt"] ? "pass --passphrase (or set PTC_BACKUP_PASSPHRASE)"
                                                         : "pass --identity FILE (or set PTC_BACKUP_IDENTITY)"
            throw BackupError(.noPermission, "\(path) is \(describe(header.stanzaTypes)); \(hint)")
        }
        let decryptor: AgeDecryptor
        do {
            decryptor = try AgeDecryptor(identities: keys.identities, source: readFile)
        } catch {
            throw BackupError(error, path: path)
        }
        return try ArchiveReader(name: path) { buffer in
            withExtendedLifetime(owner) {}
            return try decryptor.read(into: buffer)
        }
    }
}

/// Closes a descriptor when the last reader of it is gone.
final class DescriptorOwner: @unchecked Sendable {
    let fd: FileDescriptor
    init(_ fd: FileDescriptor) { self.fd = fd }
    deinit { try? fd.close() }
}

/// The encrypting side of ``StreamedArchiveWriter``'s output: the archive's plaintext stream (body from
/// offset R, the head of R bytes at 0, last) goes through an ``AgeEncryptor`` into the file.
final class EncryptingOutput: ArchiveOutput {
    let encryptor: AgeEncryptor
    let reservation: Int

    init(encryption: ArchiveEncryption, fileDescriptor: FileDescriptor, reservation: Int) throws {
        self.reservation = reservation
        encryptor = try AgeEncryptor(recipients: encryption.recipients, sink: DescriptorOutput(fileDescriptor), reservedPrefix: reservation)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        if offset == 0 && reservation > 0 {
            try encryptor.fillPrefix(bytes)
        } else {
            guard offset == encryptor.plaintextBytes else {
                throw AgeError.misuse("the archive wrote at \(offset), the encryptor is at \(encryptor.plaintextBytes)")
            }
            try encryptor.write(bytes)
        }
    }

    /// Seals the last chunks; the encrypted file's size.
    func finish() throws(ArchiveError) -> Int64 {
        do {
            return try encryptor.finish()
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw ArchiveError(code: -1, errno: (error as? Errno)?.rawValue ?? 0, message: "\(error)", context: "encrypting the archive",
                               underlying: error)
        }
    }
}

extension StreamedArchiveWriter {
    /// A writer straight to `archive`, or through an encryptor when `encryption` is given (then call
    /// `finish()` on the returned output after the head is written).
    static func make(archive: TemporaryFile, encryption: ArchiveEncryption?, level: Int, threads: Int,
                     reservation: Int) throws -> (StreamedArchiveWriter, EncryptingOutput?) {
        guard let encryption else {
            return (StreamedArchiveWriter(fileDescriptor: archive.descriptor, compressionLevel: level, threads: threads,
                                          headReservation: reservation, context: archive.path), nil)
        }
        let output = try EncryptingOutput(encryption: encryption, fileDescriptor: archive.descriptor, reservation: reservation)
        return (StreamedArchiveWriter(output: output, compressionLevel: level, threads: threads,
                                      headReservation: reservation, context: archive.path), output)
    }
}
