import ArgumentParser
import BackupCore
import Foundation

@main
struct PTCBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ptc-backup",
        abstract: "Back up, verify and inspect the SQLite state of the PlanToCode desktop app.",
        discussion: """
            The database is found through --db, then PLANTOCODE_DB, then the app's data folder \
            ($XDG_DATA_HOME or ~/.local/share, then plantocode or com.plantocode, file appdata.db).

            Exit codes (sysexits): 0 ok, 64 usage, 65 bad archive or data, 66 input missing, \
            69 remote unavailable, 73 cannot create output, 74 local I/O error, \
            75 temporary failure (locked, retry later), 77 permission refused.

            The examples in each command's help work when pasted, in the order of the commands, in a \
            folder holding a copy of the sample database (cp Samples/appdata.db tour.db) and a folder \
            backups/; the remote ones expect a WebDAV server at localhost:8080 (rclone serve webdav \
            remote/ --addr localhost:8080) and the config file shown in `ptc-backup help run`.

            Examples:
              ptc-backup export --db tour.db --output backups/
              ptc-backup list backups
            """,
        version: ToolVersion.report,
        subcommands: [Export.self, Sessions.self, Cleanup.self, Inspect.self, Verify.self, List.self, Import.self, Migrate.self, Push.self, Pull.self, Delete.self, Prune.self, Run.self, Schedule.self, Keygen.self]
    )

    /// `ParsableCommand.main()`, except that what the parser prints (help on stdout, usage errors on
    /// stderr) goes out line by line through ``Console``, so that an argument echoed in a usage error
    /// reaches the terminal ``Console/printable(_:)`` too.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code != .success {
                Console.printUsageError(self.message(for: error), code: code.rawValue, arguments: Array(CommandLine.arguments.dropFirst()),
                                        commands: configuration.subcommands.map { $0._commandName })
            }
            if !message.isEmpty {
                for line in message.split(separator: "\n", omittingEmptySubsequences: false) {
                    code == .success ? Console.out(String(line)) : Console.errorLine(String(line))
                }
            }
            Foundation.exit(code.rawValue)
        }
    }
}
