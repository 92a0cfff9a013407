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

            Example:
              ptc-backup export --output ~/backups/ && ptc-backup list ~/backups
            """,
        version: ToolVersion.version,
        subcommands: [Export.self, Cleanup.self, Inspect.self, Verify.self, List.self, Import.self, Migrate.self, Push.self, Pull.self, Delete.self, Prune.self, Run.self, Schedule.self, Keygen.self]
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
            if !message.isEmpty {
                for line in message.split(separator: "\n", omittingEmptySubsequences: false) {
                    code == .success ? Console.out(String(line)) : Console.errorLine(String(line))
                }
            }
            Foundation.exit(code.rawValue)
        }
    }
}
