import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension ImportOptions.Mode: ExpressibleByArgument {}

extension PTCBackup {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore an archive into a PlanToCode database.",
            discussion: """
                The archive is verified first (checksums, integrity, row counts) and its database extracted
                into a private temporary folder; an archive that fails changes nothing (exit 65). Archives of
                older app versions are migrated to the current schema on the way in.

                --mode restore replaces the whole database with the archive's content. When the target holds
                sessions or jobs, --force is required, and its content is first saved as an archive beside it
                (<db>.before-restore-<time>.tar.zst). The content goes in through SQLite's online backup API in
                one transaction, so it is safe while the app has the database open. A missing target is created.

                Example:
                  ptc-backup import plantocode-laptop-20261127T031500Z-full.tar.zst --mode restore --force
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The archive.", valueName: "archive"))
        var archive: String

        @Option(help: ArgumentHelp("The database to restore into (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Option(help: "What to do with the archive's content: restore (replace the whole database).")
        var mode: ImportOptions.Mode

        @Flag(help: "Replace a database that holds sessions or jobs (after saving it as an archive).")
        var force = false

        @Flag(help: "Verify and plan, write nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Where to extract the archive's database (default: $TMPDIR).", valueName: "dir"))
        var tempDir: String?

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        func run() throws {
            try Console.run("import", global) { logger in
                var options = ImportOptions(archivePath: archive)
                options.databasePath = db
                options.mode = mode
                options.force = force
                options.dryRun = dryRun
                options.busyTimeout = busyTimeout
                if let tempDir { options.temporaryDirectory = tempDir }
                let bar = ProgressBar(options: global)
                let report = try Importer(logger: logger, progress: bar.handler).run(options)
                bar.finish()
                if global.json {
                    Console.printJSON(report)
                } else if !global.quiet {
                    let verb = report.dryRun ? "Would restore" : "Restored"
                    Console.out("\(verb) \(report.archive) into \(report.target): \(report.sessions) sessions, replacing \(report.replacedSessions)")
                    if !report.migrations.isEmpty { Console.out("  migrated on the way in: \(report.migrations.joined(separator: ", "))") }
                    if let safety = report.safetyArchive { Console.out("  previous content saved to \(safety)") }
                    Console.out("  " + report.tables.map { "\($0.name) \($0.rows)" }.joined(separator: ", "))
                }
            }
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring a database to the current PlanToCode schema, in place.",
            discussion: """
                Applies the app's named migrations that the database still lacks, in the app's order, in one
                transaction, after saving the database as an archive beside it (<db>.before-migrate-<time>.tar.zst).
                A database already at the current schema is left alone (nothing saved, exit 0).

                Example:
                  ptc-backup migrate --db ~/old-laptop/appdata.db
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("The database (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Flag(help: "List the migrations that would run, change nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        func run() throws {
            try Console.run("migrate", global) { logger in
                var options = ImportOptions(archivePath: "")
                options.busyTimeout = busyTimeout
                let report = try DatabaseMigration(logger: logger).run(databasePath: db, dryRun: dryRun, options: options)
                if global.json {
                    Console.printJSON(report)
                } else if !global.quiet {
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
