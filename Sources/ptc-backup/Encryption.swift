import ArgumentParser
import BackupCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--encrypt-to`, `--encrypt-to-file`, `--passphrase`: whom an export encrypts to (age).
struct EncryptOptionGroup: ParsableArguments {
    @Option(name: .customLong("encrypt-to"), help: ArgumentHelp("Encrypt the archive to this age recipient, age1... (repeatable); the archive is named .tar.zst.age.", valueName: "recipient"))
    var recipients: [String] = []

    @Option(name: .customLong("encrypt-to-file"), help: ArgumentHelp("Encrypt to every recipient in this file (one age1... a line, # comments), as age -R reads it (repeatable).", valueName: "file"))
    var recipientFiles: [String] = []

    @Flag(help: "Encrypt with a passphrase (age scrypt): from PTC_BACKUP_PASSPHRASE, else asked on the terminal.")
    var passphrase = false

    @Flag(help: "Replace the values of secret-looking variables (*KEY*, *TOKEN*, *SECRET*, *PASSWORD*, *CREDENTIAL*) in terminal_sessions.environment_vars with \"<redacted>\" in the archive (never in the database).")
    var redactEnv = false

    /// The encryption asked for, nil when none.
    func encryption() throws -> ArchiveEncryption? {
        guard !recipients.isEmpty || !recipientFiles.isEmpty || passphrase else { return nil }
        return try ArchiveEncryption(recipients: recipients, recipientFiles: recipientFiles,
                                     passphrase: passphrase ? try Passphrase.read(confirm: true) : nil)
    }
}

/// `--identity`: the age identity files that open encrypted archives (also `PTC_BACKUP_IDENTITY`).
/// Alone on commands that encrypt too (cleanup, run: their `--passphrase` is ``EncryptOptionGroup``'s).
struct IdentityOptionGroup: ParsableArguments {
    @Option(name: .customLong("identity"), help: ArgumentHelp("An age identity file (AGE-SECRET-KEY-1..., as age-keygen writes) for encrypted archives (repeatable; default: PTC_BACKUP_IDENTITY).", valueName: "file"))
    var identities: [String] = []

    /// `--identity`, else `PTC_BACKUP_IDENTITY`.
    var files: [String] {
        if identities.isEmpty, let file = ProcessInfo.processInfo.environment["PTC_BACKUP_IDENTITY"], !file.isEmpty { return [file] }
        return identities
    }

    func keys() throws -> ArchiveKeys { try ArchiveKeys(identityFiles: files, passphrase: nil) }
}

/// `--identity`, `--passphrase`: what opens encrypted archives (age).
struct DecryptOptionGroup: ParsableArguments {
    @OptionGroup var identity: IdentityOptionGroup

    @Flag(help: "Open a passphrase-encrypted archive: the passphrase from PTC_BACKUP_PASSPHRASE, else asked on the terminal (PTC_BACKUP_PASSPHRASE alone is used too).")
    var passphrase = false

    func keys() throws -> ArchiveKeys {
        let environment = ProcessInfo.processInfo.environment
        let secret: String? = passphrase ? try Passphrase.read(confirm: false)
                                         : environment["PTC_BACKUP_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }
        return try ArchiveKeys(identityFiles: identity.files, passphrase: secret)
    }
}

enum Passphrase {
    /// `PTC_BACKUP_PASSPHRASE`, else asked on the terminal (twice when `confirm`); never echoed.
    static func read(confirm: Bool) throws -> String {
        if let value = ProcessInfo.processInfo.environment["PTC_BACKUP_PASSPHRASE"], !value.isEmpty { return value }
        guard isatty(0) == 1 else {
            throw BackupError(.usage, "--passphrase needs a terminal to ask on, or PTC_BACKUP_PASSPHRASE")
        }
        let first = prompt("Passphrase: ")
        guard !first.isEmpty else { throw BackupError(.usage, "the passphrase is empty") }
        if confirm, prompt("Confirm passphrase: ") != first { throw BackupError(.usage, "the passphrases do not match") }
        return first
    }

    private static func prompt(_ text: String) -> String {
        guard let answer = getpass(text) else { return "" }
        defer { memset(answer, 0, strlen(answer)) }
        return String(cString: answer)
    }
}
