import ArgumentParser
import BackupCore
import BackupModel
import Foundation

/// The JSON of `push` and `pull`.
struct TransferReport: Codable {
    var schemaVersion = ReportSchema.version
    var command: String
    var file: String
    var remote: String
    var bytes: Int64
}

extension PTCBackup {
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload an archive to a WebDAV folder.",
            discussion: """
                The file must be a ptc-backup archive. It is uploaded under a temporary name and moved into
                place, so nobody sees half of it; missing folders are created. Credentials come from
                PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD, or ~/.netrc.

                Example:
                  ptc-backup push plantocode-laptop-20261127T031500Z-full.tar.zst webdav+https://dav.example.org/backups/
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The archive.", valueName: "file"))
        var file: String

        @Argument(help: ArgumentHelp("The remote folder: webdav+https://host/path.", valueName: "remote"))
        var remote: String

        func run() throws {
            try Console.run("push", global) { _ in
                let info = try Transfers(onRetry: Console.retryReporter(global)).push(file, to: remote)
                if global.json {
                    Console.printJSON(TransferReport(command: "push", file: file, remote: remote, bytes: info.size))
                } else if !global.quiet {
                    Console.out("Uploaded \(file) to \(remote) as \(info.name) (\(Console.bytes(info.size)))")
                }
            }
        }
    }

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download an archive from a WebDAV folder.",
            discussion: """
                Downloads under a temporary name and keeps the file only once it is complete and reads as an
                archive. Run `verify` on it before trusting its content.

                Example:
                  ptc-backup pull webdav+https://dav.example.org/backups/plantocode-laptop-20261127T031500Z-full.tar.zst --output ~/restore/
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The archive's URL, ending in .tar.zst.", valueName: "remote-url"))
        var remote: String

        @Option(name: .shortAndLong, help: ArgumentHelp("A folder (existing, or ending in /) or a file name; default: here.", valueName: "file|dir"))
        var output: String?

        func run() throws {
            try Console.run("pull", global) { _ in
                let path = try Transfers(onRetry: Console.retryReporter(global)).pull(remote, output: output)
                let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? nil
                if global.json {
                    Console.printJSON(TransferReport(command: "pull", file: path, remote: remote, bytes: bytes ?? 0))
                } else if !global.quiet {
                    Console.out("Downloaded \(path) (\(Console.bytes(bytes ?? 0)))")
                }
            }
        }
    }
}
