import ArgumentParser
import BackupCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PTCBackup {
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate an age identity (X25519) for encrypted archives.",
            usage: "ptc-backup keygen [<options>] [--output <file>]",
            discussion: """
                Writes what age-keygen writes: "# created: ...", "# public key: age1...", and the \
                secret key AGE-SECRET-KEY-1... . With --output the file is created with mode 0600, never \
                over an existing one, and the public key is printed on stderr. Give the public key to \
                export --encrypt-to, and the file to --identity.

                Examples:
                  ptc-backup keygen --output key.txt
                  ptc-backup keygen > other-key.txt
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the identity to this new file (mode 0600) instead of stdout.", valueName: "file"))
        var output: String?

        func run() throws {
            try Console.run("keygen", global) { _ in
                if let output {
                    let recipient = try KeyGeneration.write(to: output)
                    FileHandle.standardError.write(Data("Public key: \(recipient)\n".utf8))
                } else {
                    let (text, recipient) = KeyGeneration.generate()
                    if isatty(1) != 1 { FileHandle.standardError.write(Data("Public key: \(recipient)\n".utf8)) }
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
            }
        }
    }
}
