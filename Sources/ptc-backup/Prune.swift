import ArgumentParser
import BackupCore
import BackupModel
import BackupRetention
import Foundation

extension PTCBackup {
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete old archives from a folder, a WebDAV folder or an S3 prefix by a retention policy (restic's forget rules).",
            discussion: """
                An archive's time is the UTC time in its name, so nothing is downloaded. Archives are grouped by \
                host and kind and each group is pruned on its own. --keep-hourly/daily/weekly/monthly/yearly N keep \
                the newest archive in each of the last N hours, days, ISO weeks, months or years that hold one; \
                --keep-last N keeps the N newest; --keep-within AGE keeps everything within AGE of the group's \
                newest archive (not of now). An archive kept by any rule stays; at least one rule is required \
                (exit 64 otherwise). cleanup archives hold the only copy of deleted rows: they are pruned only \
                with --kind cleanup. Names that are not this tool's archives are left alone (listed with -v).

                The same run removes this tool's leftovers older than 24 hours: hidden .NAME.part-* uploads, \
                .NAME.tmp-*/.snapshot-*/.download-* files whose process is gone, and on S3 the prefix's incomplete \
                multipart uploads. Archives are deleted oldest first, one at a time; a failure stops the run, \
                and the report says which were deleted (every other archive is intact). --dry-run prints the \
                same table and changes nothing.

                Examples:
                  ptc-backup prune backups --keep-last 2 --dry-run
                  ptc-backup prune backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12
                  ptc-backup prune nas: --keep-within 30d --keep-monthly 24
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Argument(help: ArgumentHelp("The folder, webdav+https://host/path/ or s3://bucket/prefix/.", valueName: "dir|remote"))
        var location: String

        @Option(help: ArgumentHelp("Keep the N newest archives.", valueName: "n")) var keepLast = 0
        @Option(help: ArgumentHelp("Keep the newest archive of each of the last N hours that have one (UTC).", valueName: "n")) var keepHourly = 0
        @Option(help: ArgumentHelp("Keep the newest archive of each of the last N days that have one (UTC).", valueName: "n")) var keepDaily = 0
        @Option(help: ArgumentHelp("Keep the newest archive of each of the last N ISO weeks that have one.", valueName: "n")) var keepWeekly = 0
        @Option(help: ArgumentHelp("Keep the newest archive of each of the last N months that have one.", valueName: "n")) var keepMonthly = 0
        @Option(help: ArgumentHelp("Keep the newest archive of each of the last N years that have one.", valueName: "n")) var keepYearly = 0
        @Option(help: ArgumentHelp("Keep every archive within AGE (90d, 12h, 2w) of its group's newest.", valueName: "age"))
        var keepWithin: String?

        @Option(name: .customLong("kind"), help: ArgumentHelp("Prune only archives of this kind (repeatable; default: full and partial, never cleanup unless named).", valueName: "full|partial|cleanup"))
        var kinds: [Kind] = []

        @Option(help: ArgumentHelp("Prune only this host's archives (the host in the names).", valueName: "host"))
        var host: String?

        @Flag(help: "Print what would be deleted; change nothing.")
        var dryRun = false

        enum Kind: String, ExpressibleByArgument, CaseIterable {
            case full, partial, cleanup
        }

        func validate() throws {
            for (flag, value) in [("--keep-last", keepLast), ("--keep-hourly", keepHourly), ("--keep-daily", keepDaily),
                                  ("--keep-weekly", keepWeekly), ("--keep-monthly", keepMonthly), ("--keep-yearly", keepYearly)] where value < 0 {
                throw ValidationError("\(flag) must be 0 or more (got \(value))")
            }
            let policy = try policy()
            if policy.isEmpty {
                throw ValidationError("give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within: prune never deletes everything")
            }
        }

        func policy() throws -> RetentionPolicy {
            var within: RetentionPolicy.Within?
            if let keepWithin {
                do {
                    let age = try Age(parsing: keepWithin)
                    within = .init(seconds: age.seconds, text: age.text)
                } catch let error as BackupError {
                    throw ValidationError("--keep-within: \(error.message)")
                }
            }
            return RetentionPolicy(last: keepLast, hourly: keepHourly, daily: keepDaily, weekly: keepWeekly, monthly: keepMonthly,
                                   yearly: keepYearly, within: within)
        }

        func run() throws {
            try Console.run("prune", global) { _ in
                var options = PruneOptions(policy: try policy())
                options.lockWait = locking.duration
                options.selection = RetentionSelection(kinds: Set(kinds.map(\.rawValue)), host: host)
                options.dryRun = dryRun
                let target = try remoteOptions.named(location)
                options.remote = target.group.options
                options.remote.onRetry = Console.retryReporter(global)
                let outcome = try Pruner().prune(target.url, options: options, environment: target.environment)
                Console.emit(outcome.report, global, failure: outcome.failure) {
                    Self.printTable(outcome.report, verbose: global.verbose > 0)
                }
            }
        }

        /// One aligned table (archive, keep or remove, reasons), then the totals.
        static func printTable(_ report: PruneReport, verbose: Bool) {
            if report.archives.isEmpty {
                Console.out("No archives to prune in \(report.location).")
            } else {
                let width = max("ARCHIVE".count, report.archives.map { Console.displayWidth(of: Console.printable($0.name)) }.max() ?? 0) + 2
                Console.out(Console.column("ARCHIVE", width) + Console.column("ACTION", 8) + "REASONS")
                for archive in report.archives {
                    let line = Console.column(archive.name, width) + Console.column(archive.keep ? "keep" : "remove", 8)
                        + archive.reasons.joined(separator: ", ")
                    Console.out(String(line.reversed().drop { $0 == " " }.reversed()))
                }
            }
            if verbose {
                for ignored in report.ignored { Console.out("left alone: \(ignored.name) (\(ignored.reason))") }
            }
            let removed = report.archives.filter { !$0.keep }
            let kept = report.archives.count - removed.count
            let removedBytes = removed.reduce(Int64(0)) { $0 + $1.bytes }
            let leftoverBytes = report.leftovers.reduce(Int64(0)) { $0 + $1.bytes }
            let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
            if report.dryRun {
                Console.out("Dry run: would remove \(plural(removed.count, "archive")) (\(Console.bytes(removedBytes))), keep \(kept); "
                            + "would remove \(plural(report.leftovers.count, "leftover")) older than 24 h (\(Console.bytes(leftoverBytes))). Nothing changed.")
            } else if report.stoppedBy != nil {
                let deleted = removed.filter(\.deleted)
                Console.out("Stopped: removed \(plural(deleted.count, "archive")) (\(Console.bytes(deleted.reduce(0) { $0 + $1.bytes }))) of \(removed.count); the rest is intact.")
            } else {
                let gone = report.leftovers.filter(\.removed)
                Console.out("Removed \(plural(removed.count, "archive")) (\(Console.bytes(removedBytes))), kept \(kept); "
                            + "removed \(plural(gone.count, "leftover")) older than 24 h (\(Console.bytes(gone.reduce(0) { $0 + $1.bytes }))).")
            }
        }
    }
}
