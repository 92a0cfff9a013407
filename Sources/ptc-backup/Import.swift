import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension ImportOptions.Mode: ExpressibleByArgument {}
extension ConflictPolicy: ExpressibleByArgument {}

extension PTCBackup {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge or restore an archive into a PlanToCode database.",
            discussion: """
                The archive is verified first (checksums, integrity, row counts) and its database extracted \
                into a private temporary folder; an archive that fails changes nothing (exit 65). Archives of \
                older app versions are migrated to the current schema on the way in.

                --mode merge (the default) adds the archive's sessions, with their jobs, terminal sessions, \
                histories and project prompts, in one transaction that never deletes a row of the target. A \
                session in both is settled by --on-conflict: skip (keep the target's), replace (take the \
                archive's, updated in place: the target's own jobs stay), or newer (the later updated_at; the \
                default). --remap OLD=NEW moves project directories and recomputes their project hashes. Rows the \
                target's rules refuse (an upgraded 1.0.x database allows fewer terminal statuses) fail the merge \
                unless --skip-invalid. Settings, logs and version markers stay the target's (--include-settings \
                merges app_settings). A target with an older schema is migrated first, in the same transaction. \
                When rows of the target will be overwritten, it is first saved beside it as an archive.

                --mode restore replaces the whole database with the archive's content. When the target holds \
                sessions or jobs, --force is required, and its content is first saved as an archive beside it \
                (<db>.before-restore-<time>.tar.zst). The content goes in through SQLite's online backup API in \
                one transaction, so it is safe while the app has the database open. A missing target is created.

                Examples:
                  ptc-backup import today.tar.zst --db restored.db --mode restore
                  ptc-backup import backups/latest --db restored.db --dry-run
                  ptc-backup import today.tar.zst --db tour.db --remap /home/alex/code=/srv/code
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup
        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        @Argument(help: ArgumentHelp("The archive, or its URL (webdav+https://host/path/NAME.tar.zst, s3://bucket/prefix/NAME.tar.zst); DIR/latest or URL/latest: the newest archive there.", valueName: "archive|remote-url"))
        var archive: String

        @OptionGroup(title: "latest") var latest: LatestOptions

        @Option(help: ArgumentHelp("The database to restore into (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Option(help: "merge (add the archive's sessions) or restore (replace the whole database).")
        var mode: ImportOptions.Mode = .merge

        @Option(help: "Merge: a session in both is settled by skip, replace or newer.")
        var onConflict: ConflictPolicy = .newer

        @Option(name: .customLong("remap"), help: ArgumentHelp("Merge: move project directories under OLD to NEW (repeatable).", valueName: "old=new"))
        var remaps: [String] = []

        @Option(name: .customLong("session"), help: ArgumentHelp("Merge: only this session of the archive, with its jobs and terminals (repeatable).", valueName: "id"))
        var sessions: [String] = []

        @Flag(help: "Merge: take the archive's app settings too (under --on-conflict).")
        var includeSettings = false

        @Flag(help: "Merge: skip the rows the target's rules refuse, and list them, instead of failing.")
        var skipInvalid = false

        @Flag(help: "Restore: replace a database that holds sessions or jobs (after saving it as an archive).")
        var force = false

        @Flag(help: "Verify and plan, write nothing.")
        var dryRun = false

        @Option(name: [.customLong("tmp-dir"), .customLong("temp-dir")],
                help: ArgumentHelp("Where to extract the archive's database (default: the target database's folder).", valueName: "dir"))
        var tempDir: String?

        @Flag(help: "Restore: install triggers and views the app's schema history does not have (refused by default, exit 65).")
        var allowUnknownSchema = false

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        func validate() throws {
            for remap in remaps {
                do { _ = try PathRemap(parsing: remap) } catch let error as BackupError { throw ValidationError(error.message) }
            }
            if mode == .restore && (!remaps.isEmpty || includeSettings || skipInvalid || !sessions.isEmpty) {
                throw ValidationError("--session, --remap, --include-settings and --skip-invalid apply to --mode merge only (a restore replaces the whole database)")
            }
            if mode == .merge && allowUnknownSchema { throw ValidationError("--allow-unknown-schema applies to --mode restore only (a merge installs no schema)") }
            if mode == .merge && force { throw ValidationError("--force applies to --mode restore only (a merge never deletes)") }
        }

        func run() throws {
            try Console.run("import", global) { logger in
                let source = try remoteOptions.named(archive)
                let keys = try decryption.keys()
                let archive = try latest.resolve(source.url, source.transfers(global), keys: keys, environment: source.environment)
                var options = ImportOptions(archivePath: archive)
                options.keys = keys
                options.lockWait = locking.duration
                options.databasePath = db
                options.mode = mode
                options.force = force
                options.onConflict = onConflict
                options.remaps = try remaps.map(PathRemap.init(parsing:))
                options.includeSettings = includeSettings
                options.sessions = sessions
                options.skipInvalid = skipInvalid
                options.dryRun = dryRun
                options.busyTimeout = busyTimeout
                if let tempDir { options.temporaryDirectory = tempDir }
                options.allowUnknownSchema = allowUnknownSchema
                let bar = ProgressBar(options: global)
                let report: ImportReport
                if RemoteLocation.isRemote(archive) {
                    report = try source.transfers(global).withDownload(archive, temporaryDirectory: try options.extractionDirectory(),
                                                                       environment: source.environment) { local in
                        var fetched = options
                        fetched.archivePath = local
                        var report = try Importer(logger: logger, progress: bar.handler).run(fetched)
                        report.archive = archive
                        return report
                    }
                } else {
                    report = try Importer(logger: logger, progress: bar.handler).run(options)
                }
                bar.finish()
                Console.emit(report, global, warnings: report.warnings) { render(report) }
            }
        }

        private func render(_ report: ImportReport) {
            if let merge = report.merge {
                let verb = report.dryRun ? "Would merge" : "Merged"
                Console.out("\(verb) \(report.archive) into \(report.database): \(merge.sessionsAdded.count) sessions added, \(merge.sessionsUpdated.count) updated, \(merge.sessionsSkipped.count) kept as they were (--on-conflict \(merge.onConflict))")
                if !report.migrations.isEmpty { Console.out("  archive migrated on the way in: \(report.migrations.joined(separator: ", "))") }
                if !merge.targetMigrations.isEmpty { Console.out("  target migrated first: \(merge.targetMigrations.joined(separator: ", "))") }
                for (old, new) in merge.remapped.sorted(by: { $0.key < $1.key }) { Console.out("  remapped \(old) -> \(new)") }
                let rows = merge.rowsInserted.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) +\($0.value)" }
                let updates = merge.rowsUpdated.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) ~\($0.value)" }
                if !(rows + updates).isEmpty { Console.out("  rows: " + (rows + updates).joined(separator: ", ")) }
                if !merge.invalidRowsSkipped.isEmpty {
                    Console.out("  skipped \(merge.invalidRowsSkipped.count) row(s) the target refuses:")
                    for row in merge.invalidRowsSkipped { Console.out("    \(row)") }
                }
                if let safety = report.safetyArchive { Console.out("  previous content saved to \(safety)") }
                if !merge.tablesNotMerged.isEmpty { Console.out("  not merged (the target keeps its own): \(merge.tablesNotMerged.joined(separator: ", "))") }
                if !merge.columnsNotMerged.isEmpty { Console.out("  columns not merged (dropped by later app versions): \(merge.columnsNotMerged.joined(separator: ", "))") }
                if !merge.orphansLeftOut.isEmpty {
                    Console.out("  left out \(merge.orphansLeftOut.count) row(s) whose parent is missing in the archive:")
                    for row in merge.orphansLeftOut.prefix(20) { Console.out("    \(row)") }
                    if merge.orphansLeftOut.count > 20 { Console.out("    … and \(merge.orphansLeftOut.count - 20) more (--json lists all)") }
                }
            } else {
                let verb = report.dryRun ? "Would restore" : "Restored"
                Console.out("\(verb) \(report.archive) into \(report.database): \(report.sessionCount) sessions, replacing \(report.replacedSessionCount)")
                if !report.migrations.isEmpty { Console.out("  migrated on the way in: \(report.migrations.joined(separator: ", "))") }
                if let safety = report.safetyArchive { Console.out("  previous content saved to \(safety)") }
                Console.out("  " + report.tables.map { "\($0.name) \($0.rows)" }.joined(separator: ", "))
            }
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring a database to the current PlanToCode schema, in place.",
            usage: "ptc-backup migrate [<options>]",
            discussion: """
                Applies the app's named migrations that the database still lacks, in the app's order, in one \
                transaction, after saving the database as an archive beside it (<db>.before-migrate-<time>.tar.zst). \
                A database already at the current schema is left alone (nothing saved, exit 0).

                Examples:
                  ptc-backup migrate --db tour.db --dry-run
                  ptc-backup migrate --db restored.db
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup

        @Option(help: ArgumentHelp("The database (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Flag(help: "List the migrations that would run, change nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        func run() throws {
            try Console.run("migrate", global) { logger in
                var options = ImportOptions(archivePath: "")
                options.lockWait = locking.duration
                options.busyTimeout = busyTimeout
                let report = try DatabaseMigration(logger: logger).run(databasePath: db, dryRun: dryRun, options: options)
                Console.emit(report, global) {
                    if report.applied.isEmpty {
                        Console.out("\(report.database) is already at the current schema; nothing changed.")
                    } else {
                        Console.out("\(report.dryRun ? "Would apply" : "Applied") to \(report.database): \(report.applied.joined(separator: ", "))")
                        if let safety = report.safetyArchive { Console.out("  previous content saved to \(safety)") }
                    }
                    for skipped in report.notApplicable { Console.out("  not applicable: \(skipped)") }
                }
            }
        }
    }
}
