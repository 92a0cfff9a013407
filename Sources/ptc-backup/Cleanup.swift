import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Archive what the app's retention cleanup is about to delete, verify it, then delete it.",
            discussion: """
                The rule is the app's own, read from the database: jobs that are completed, failed or canceled, \
                created more than clearJobHistoryAfterDays ago (the app's setting; 7 when absent; -1 any age, \
                -2 any age and task type, other values below 1 mean 90), compared in milliseconds, so every job \
                stamped in seconds counts as old; implementation plans are kept. --older-than AGE replaces the \
                setting's days.

                The archive (plantocode-<host>-<time>-cleanup.tar.zst) holds those jobs and the ones the rule \
                selects within --ahead (2d by default), their terminal sessions and their sessions' rows, so a \
                merge brings them back. It is verified before anything is deleted; with --to it is uploaded and \
                its remote copy checked (size and SHA-256) first. Then the jobs the rule selects now, and only \
                those still unchanged, are deleted in one short transaction (their terminals by cascade); jobs \
                that changed meanwhile stay and are listed. Cleanup archives hold the only copy of those rows: \
                prune keeps them unless told --kind cleanup.

                With --encrypt-to (or --encrypt-to-file) the archive is encrypted (age, .tar.zst.age) and \
                cleanup needs --identity (or PTC_BACKUP_IDENTITY) for one of those recipients: it reads the \
                archive back before deleting, decrypted into a temporary folder beside the database. \
                --passphrase needs no identity.

                Examples:
                  ptc-backup cleanup --db tour.db --dry-run
                  ptc-backup cleanup --db tour.db --older-than 30d --output backups/
                  ptc-backup cleanup --db tour.db --output backups/ --to nas:
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @OptionGroup(title: "Encryption (age)") var encryption: EncryptOptionGroup
        @OptionGroup(title: "Reading the encrypted archive back") var identity: IdentityOptionGroup

        @Option(help: ArgumentHelp("The database (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Option(help: ArgumentHelp("Jobs older than AGE instead of the app's setting (like 30d, 12h).", valueName: "age"))
        var olderThan: String?

        @Option(help: ArgumentHelp("Also archive the jobs the rule will select within AGE from now.", valueName: "age"))
        var ahead = "2d"

        @Option(name: .shortAndLong, help: ArgumentHelp("The folder for the cleanup archive (default: the current folder).", valueName: "dir"))
        var output: String?

        @Option(help: ArgumentHelp("Upload the archive to this remote folder and check it there before deleting.", valueName: "remote"))
        var to: String?

        @Option(help: ArgumentHelp("Beyond the app's rule: also whole sessions, with everything under them, untouched for AGE (their jobs too).", valueName: "age"))
        var sessionsOlderThan: String?

        @Flag(help: "Archive only; delete nothing.")
        var noDelete = false

        @Flag(help: "Say what would be archived and deleted; change nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        func validate() throws {
            do {
                if let olderThan { _ = try Age(parsing: olderThan) }
                if let sessionsOlderThan { _ = try Age(parsing: sessionsOlderThan) }
                _ = try Age(parsing: ahead)
            } catch let error as BackupError {
                throw ValidationError(error.message)
            }
            guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must not be negative") }
        }

        func run() throws {
            try Console.run("cleanup", global) { logger in
                Console.lowerPriority(to: 19)
                let target = try to.map { try remoteOptions.named($0) }
                if let target { _ = try RemoteLocation(parsing: target.url, options: target.group.options, environment: target.environment) }  // credentials first
                var options = CleanupOptions()
                options.lockWait = locking.duration
                options.databasePath = db
                options.olderThan = try olderThan.map(Age.init(parsing:))
                options.ahead = try Age(parsing: ahead)
                options.output = output
                options.remote = target?.url
                if let target { options.environment = target.environment }
                options.sessionsOlderThan = try sessionsOlderThan.map(Age.init(parsing:))
                options.noDelete = noDelete
                options.dryRun = dryRun
                options.busyTimeout = busyTimeout
                options.encryption = try encryption.encryption()
                options.redactEnvironment = encryption.redactEnv
                options.keys = try identity.keys()
                let bar = ProgressBar(options: global)
                let report = try Cleaner(logger: logger, progress: bar.handler).run(options, transfers: (target?.group ?? remoteOptions).transfers(global))
                bar.finish()
                Console.emit(report, global) { render(report) }
            }
        }

        private func render(_ report: CleanupReport) {
            Console.out("Rule: \(report.rule)")
            let jobs = report.toDelete["background_jobs"] ?? 0, terminals = report.toDelete["terminal_sessions"] ?? 0
            let range = report.oldestJob.map { " (created \($0) to \(report.newestJob ?? $0))" } ?? ""
            if report.dryRun {
                let archived = report.archived.map { "\($0.name) \($0.rows)" }.joined(separator: ", ")
                Console.out("Would archive: \(archived.isEmpty ? "nothing" : archived)")
                Console.out("Would delete: \(jobs) jobs and \(terminals) terminal sessions\(range), \(Console.bytes(report.outputLogBytes)) of terminal output")
                if let sessions = report.toDelete["sessions"] { Console.out("  and \(sessions) whole sessions untouched for --sessions-older-than") }
                return
            }
            if let message = report.message, report.archive == nil {
                Console.out(message.prefix(1).uppercased() + message.dropFirst())
                return
            }
            if let archive = report.archive {
                Console.out("Archived to \(archive): " + report.archived.map { "\($0.name) \($0.rows)" }.joined(separator: ", "))
            }
            if let uploaded = report.uploadedTo { Console.out("  uploaded and checked: \(uploaded)") }
            if let message = report.message { Console.out("  \(message)") }
            if !report.deleted.isEmpty {
                let held = report.lockHeldMilliseconds.map { String(format: " (write lock held %.1f ms)", $0) } ?? ""
                Console.out("Deleted \(report.deleted["background_jobs"] ?? 0) jobs and \(report.deleted["terminal_sessions"] ?? 0) terminal sessions\(range)\(held)")
                if let sessions = report.deleted["sessions"] { Console.out("  and \(sessions) whole sessions with their histories") }
                if let bytes = report.reclaimableBytes, bytes > 0 { Console.out("  \(Console.bytes(bytes)) can now be reclaimed by VACUUM") }
            }
            if !report.skippedChanged.isEmpty {
                Console.out("  kept \(report.skippedChanged.count) archived job(s) that changed meanwhile: \(report.skippedChanged.prefix(5).joined(separator: ", "))\(report.skippedChanged.count > 5 ? ", …" : "")")
            }
        }
    }
}
