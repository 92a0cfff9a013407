import ArgumentParser
import BackupConfig
import BackupCore
import Foundation

extension PTCBackup {
    struct Schedule: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install, list or remove the scheduled run of a profile (systemd user timer, launchd agent, or cron).",
            discussion: """
                Examples:
                  ptc-backup schedule install nightly --every daily --at 03:15
                  ptc-backup schedule list
                  ptc-backup schedule remove nightly
                """,
            subcommands: [Install.self, ListInstalled.self, Remove.self])
    }
}

extension PTCBackup.Schedule {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Run PROFILE on a schedule.",
            usage: "ptc-backup schedule install [<options>] <profile>",
            discussion: """
                Linux: a systemd user service and timer in $XDG_CONFIG_HOME/systemd/user (Persistent=true, a \
                randomized delay, Nice=19, idle I/O), enabled with systemctl --user when a user manager is \
                running (otherwise the two commands to run are printed). macOS: a launchd agent in \
                ~/Library/LaunchAgents, loaded with launchctl. --cron prints a crontab line instead. \
                --dry-run prints the files.

                Examples:
                  ptc-backup schedule install nightly --every daily --at 03:15 --dry-run
                  ptc-backup schedule install nightly --cron
                  ptc-backup schedule install nightly --every daily --at 03:15
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The profile ([profile.NAME] in the config file).")
        var profile: String

        @Option(help: ArgumentHelp("hourly, daily, weekly, or a systemd calendar expression.", valueName: "when"))
        var every = "daily"

        @Option(help: ArgumentHelp("The time of day (the minute for hourly).", valueName: "HH:MM"))
        var at: String?

        @Option(help: ArgumentHelp("The config file the scheduled run reads (default: the usual place).", valueName: "path"))
        var config: String?

        @Flag(help: "Print a crontab line instead of installing anything.")
        var cron = false

        @Flag(help: "Print what would be written; change nothing.")
        var dryRun = false

        func run() throws {
            try Console.run("schedule", global) { _ in
                let environment = ProcessInfo.processInfo.environment
                // The profile must exist now, not fail every night.
                let path = ConfigFile.location(explicit: config, environment: environment)
                do { _ = try ConfigFile.load(path).profile(profile) } catch let error as ConfigError { throw BackupError(error) }
                let time = try ScheduleTime(every: every, at: at)
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath().path
                let units = ScheduleUnits(profile: profile, executable: executable, config: config, time: time)
                if cron {
                    guard let line = units.crontabLine else { throw BackupError.usage("cron cannot say '\(every)': use hourly, daily or weekly with --cron") }
                    Console.out(line)
                    return
                }
                let report = try Scheduler(environment: environment).install(units, dryRun: dryRun)
                Console.emit(report, global) {
                    for file in report.files {
                        Console.out("\(dryRun ? "Would write" : "Wrote") \(file.path)")
                        if let text = file.text { Console.out(text) }
                    }
                    if let message = report.message { Console.out(message) }
                    if dryRun || report.message?.contains("run the command") == true {
                        for command in report.commands { Console.out("  \(command)") }
                    }
                }
            }
        }
    }

    struct ListInstalled: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The profiles on a schedule, and how their last run went.",
            usage: "ptc-backup schedule list [<options>]",
            discussion: """
                Examples:
                  ptc-backup schedule list
                  ptc-backup schedule list --json
                """)

        @OptionGroup var global: GlobalOptions

        func run() throws {
            try Console.run("schedule", global) { _ in
                let report = Scheduler().list()
                Console.emit(report, global) {
                    if report.installed.isEmpty { Console.out("No profile is scheduled."); return }
                    Console.out(Console.column("PROFILE", 16) + Console.column("SCHEDULE", 26) + "LAST RUN")
                    for item in report.installed {
                        Console.out(Console.column(item.profile, 16) + Console.column(item.schedule, 26) + (item.lastRun ?? "never"))
                    }
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Undo exactly what install did for PROFILE.",
            usage: "ptc-backup schedule remove [<options>] <profile>",
            discussion: """
                Examples:
                  ptc-backup schedule remove nightly --dry-run
                  ptc-backup schedule remove nightly
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The profile.")
        var profile: String

        @Flag(help: "Print what would be removed; change nothing.")
        var dryRun = false

        func run() throws {
            try Console.run("schedule", global) { _ in
                let report = try Scheduler().remove(profile: profile, dryRun: dryRun)
                Console.emit(report, global) {
                    for file in report.files { Console.out("\(dryRun ? "Would remove" : "Removed") \(file.path)") }
                }
            }
        }
    }
}
