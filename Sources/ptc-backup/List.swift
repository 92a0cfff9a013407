import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the archives in a folder: time, kind, size, sessions.",
            discussion: """
                Reads each archive's manifest only. Archives whose manifest cannot be read are listed
                with the reason.

                Example:
                  ptc-backup list ~/backups
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The folder.", valueName: "dir"))
        var location: String

        func run() throws {
            try Console.run("list", global) { _ in
                let report = try Lister().list(location)
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
                                        + Console.column(Console.bytes(item.bytes), 10) + Console.column(String(item.sessions ?? 0), 10) + item.name)
                        }
                    }
                }
            }
        }
    }
}
