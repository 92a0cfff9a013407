import ArgumentParser
import BackupCore

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
        subcommands: [Export.self, Inspect.self, Verify.self, List.self, Import.self, Migrate.self, Push.self, Pull.self, Delete.self]
    )
}
