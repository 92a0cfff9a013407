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
                read are listed with the reason). For a remote folder, lists names, sizes and times.

                Examples:
                  ptc-backup list backups
                  ptc-backup list webdav+http://localhost:8080/ptc/ --json
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Argument(help: ArgumentHelp("The folder, webdav+https://host/path/ or s3://bucket/prefix/.", valueName: "dir|remote"))
        var location: String

        func run() throws {
            try Console.run("list", global) { _ in
                let target = try remoteOptions.named(location)
                let report = RemoteLocation.isRemote(target.url)
                    ? try target.transfers(global, bucketMustExist: true).list(target.url, environment: target.environment)
                    : try Lister().list(location)
                if global.json {
                    Console.printJSON(report)
                } else if !global.quiet {
                    guard !report.archives.isEmpty else {
                        Console.out("No archives in \(location).")
                        return
                    }
                    Console.out(Console.column("CREATED", 22) + Console.column("KIND", 9) + Console.column("SIZE", 10)
                                + Console.column("SESSIONS", 10) + "NAME")
                    for item in report.archives {
                        if let problem = item.problem {
                            Console.out(Console.column("?", 22) + Console.column("?", 9) + Console.column(Console.bytes(item.bytes), 10)
                                        + Console.column("?", 10) + "\(item.name)  (unreadable: \(problem))")
                        } else {
                            Console.out(Console.column(item.createdAt ?? "-", 22) + Console.column(item.kind?.rawValue ?? "-", 9)
                                        + Console.column(Console.bytes(item.bytes), 10) + Console.column(item.sessions.map(String.init) ?? "-", 10) + item.name)
                        }
                    }
                }
            }
        }
    }
}
