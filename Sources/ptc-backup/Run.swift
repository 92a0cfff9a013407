import ArgumentParser
import BackupConfig
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a profile of the config file: the scheduled job in one command.",
            discussion: """
                Reads $XDG_CONFIG_HOME/ptc-backup/config.toml (or --config, or PTC_BACKUP_CONFIG) and runs \
                [profile.NAME]: cleanup (cleanup = true) or export, verify, upload to its remote and check the \
                copy there (to = "NAME:" for a [remote.NAME], or a URL), then prune the folder and the remote \
                (keep_daily, keep_weekly, ...). The output folder is created (0700) when missing. One summary \
                line at the end (or --json, with every step); the exit code is the worst step's. On failure, \
                on_failure runs with PTC_BACKUP_ERROR and PTC_BACKUP_STATUS set; ping_url gets a GET on success \
                and <ping_url>/fail with the error on failure. A mistake in the config file is exit 78, with \
                file, line and key.

                Example config.toml (the one the examples use, see `ptc-backup --help`):
                  [remote.nas]
                  url = "webdav+http://localhost:8080/ptc/"
                  # user = "ana"                         (a server that asks)
                  # password_command = "pass show nas"

                  [profile.nightly]
                  db = "tour.db"
                  output = "backups"
                  to = "nas:laptop"
                  keep_daily = 7
                  keep_weekly = 4
                  # cleanup = true   (archive and delete old jobs instead)
                  # encrypt_to = ["age1..."]  (with identity_file = "key.txt";
                  #   or passphrase_command = "pass show ptc")
                  # redact_env = true

                Examples:
                  ptc-backup run nightly
                  ptc-backup run nightly --json
                  ptc-backup run nightly --to nas:other
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @OptionGroup(title: "Encryption (age), instead of the profile's") var encryption: EncryptOptionGroup
        @OptionGroup(title: "Reading the encrypted archive back") var identity: IdentityOptionGroup

        @Argument(help: "The profile to run ([profile.NAME] in the config file).")
        var profile: String

        @Option(help: ArgumentHelp("The config file (default: PTC_BACKUP_CONFIG, then $XDG_CONFIG_HOME/ptc-backup/config.toml).", valueName: "path"))
        var config: String?

        @Option(help: ArgumentHelp("The database, instead of the profile's.", valueName: "path"))
        var db: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("The output folder, instead of the profile's.", valueName: "dir"))
        var output: String?

        @Option(help: ArgumentHelp("The remote, instead of the profile's (NAME: or a URL).", valueName: "remote"))
        var to: String?

        func run() throws {
            try Console.run("run", global) { logger in
                Console.lowerPriority(to: 19)
                let environment = ProcessInfo.processInfo.environment
                let path = ConfigFile.location(explicit: config, environment: environment)
                let file: ConfigFile
                var chosen: BackupConfig.Profile
                do {
                    file = try ConfigFile.load(path)
                    chosen = try file.profile(profile)
                } catch let error as ConfigError {
                    throw BackupError(error)
                }
                Console.warn(file.warnings, global)  // at once, before the steps' output
                let home = environment["HOME"] ?? NSHomeDirectory()
                func expand(_ path: String?) -> String? { path.map { $0.hasPrefix("~/") ? home + $0.dropFirst() : $0 } }
                chosen.db = expand(db ?? chosen.db)
                chosen.output = expand(output ?? chosen.output)
                if let to { chosen.to = to }
                chosen.identityFile = expand(chosen.identityFile)
                chosen.encryptToFile = expand(chosen.encryptToFile)
                var options = RunOptions(profile: chosen, config: file)
                options.encryption = try encryption.encryption()
                options.redactEnvironment = encryption.redactEnv
                options.keys = try identity.keys()
                options.remote = remoteOptions.options
                options.remote.onRetry = Console.retryReporter(global)
                options.onWarning = Console.warningReporter(global)
                let bar = ProgressBar(options: global)
                let report = Runner(logger: logger, progress: bar.handler).run(options)
                bar.finish()
                // The last run of each profile, for `schedule list`.
                let scheduler = Scheduler(environment: environment)
                if (try? FileManager.default.createDirectory(atPath: scheduler.stateFolder, withIntermediateDirectories: true)) != nil,
                   let data = try? JSONEncoder().encode(report) {
                    try? data.write(to: URL(fileURLWithPath: scheduler.stateFolder + "/\(profile).json"))
                }
                let text = {
                    for step in report.steps { Console.out("\(step.exitCode == 0 ? "ok  " : "FAIL") \(step.name): \(step.summary)") }
                    for line in report.notified { Console.out("     \(line)") }
                    Console.out("\(report.ok ? "Profile \(profile) done" : "Profile \(profile) failed (exit \(report.exitCode))") in \(String(format: "%.1f", report.seconds)) s")
                }
                if let failed = report.steps.first(where: { $0.exitCode != 0 }) {
                    Console.emit(report, global, warnings: file.warnings, failing: report.exitCode, message: "run \(profile): \(failed.name): \(failed.summary)", text: text)
                }
                Console.emit(report, global, warnings: file.warnings, warned: true, text: text)
            }
        }
    }
}
