import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the archives in a folder, a WebDAV folder or an S3 bucket: time, kind, size, sessions.",
            usage: "ptc-backup list [<options>] <dir|remote>",
            discussion: """
                For a local folder, reads each archive's manifest only (archives whose manifest cannot be \
                read are listed with the reason); encrypted archives from their names, or from their \
                manifests with --identity or --passphrase. For a remote folder, lists names, sizes and times.

                Examples:
                  ptc-backup list backups
                  ptc-backup list webdav+http://localhost:8080/ptc/ --json
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        @Argument(help: ArgumentHelp("The folder, webdav+https://host/path/ or s3://bucket/prefix/.", valueName: "dir|remote"))
        var location: String

        func run() throws {
            try Console.run("list", global) { _ in
                let target = try remoteOptions.named(location)
                let report = RemoteLocation.isRemote(target.url)
                    ? try target.transfers(global, bucketMustExist: true).list(target.url, environment: target.environment)
                    : try Lister(keys: try decryption.keys()).list(location)
                Console.emit(report, global) {
                    guard !report.archives.isEmpty else {
                        Console.out("No archives in \(location).")
                        return
                    }
                    for line in Self.table(report.archives) { Console.out(line) }
                }
            }
        }

        /// One aligned table: age (local time beyond a week), kind, host, size, sessions, name; an archive
        /// whose manifest cannot be read shows why after its name.
        static func table(_ archives: [ListReport.Item], now: Date = Date()) -> [String] {
            let rows: [[String]] = archives.map { item in
                let parsed = ArchiveName(parsing: item.name)
                return [Console.when(item.createdAt, now: now), item.kind?.rawValue ?? parsed?.kind ?? "?",
                        item.host ?? parsed?.host ?? "?", Console.bytes(item.bytes), item.sessionCount.map(String.init) ?? "-",
                        item.name + (item.problem.map { "  (unreadable: \($0))" } ?? "")]
            }
            let header = ["CREATED", "KIND", "HOST", "SIZE", "SESSIONS", "NAME"]
            let widths = (0..<header.count - 1).map { column in
                ([header] + rows).map { Console.displayWidth(of: Console.printable($0[column])) }.max() ?? 0
            }
            return ([header] + rows).map { row in
                zip(row.dropLast(), widths).map { Console.column($0, $1 + 2) }.joined() + row[row.count - 1]
            }
        }
    }
}
