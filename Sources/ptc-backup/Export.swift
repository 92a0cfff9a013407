import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Snapshot the database (all of it, or chosen sessions) into a verified .tar.zst archive.",
            discussion: """
                The snapshot uses SQLite's online backup API under one read transaction: the app keeps \
                writing, and the archive holds one consistent state, including what is only in the -wal file. \
                The database is opened read-only. The archive is written under a temporary name, synced, \
                then published as plantocode-<host>-<UTC time>-<full|partial>.tar.zst (mode 0600; -2, -3, ... \
                before .tar.zst when an archive of the same second is already there).

                --session and --project add sessions; --older-than keeps only sessions updated, or with a \
                job created, before now minus AGE (timestamps in seconds or milliseconds). A selected \
                session brings its jobs, their terminal sessions, its histories and its project's prompts. \
                When nothing matches, nothing is written and the exit code is 0.

                Examples:
                  ptc-backup export --db tour.db --output backups/
                  ptc-backup export --db tour.db --output today.tar.zst
                  ptc-backup export --db tour.db --project /home/alex/code/billing-service
                  ptc-backup export --db tour.db --output backups/ --to nas:
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup
        @OptionGroup(title: "Encryption (age)") var encryption: EncryptOptionGroup

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Option(help: ArgumentHelp("The database (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("A folder (existing, or ending in /) or the archive's file name.", valueName: "file|dir"))
        var output: String?

        @Option(name: .customLong("session"), help: ArgumentHelp("Export this session and its dependants (repeatable).", valueName: "id"))
        var sessions: [String] = []

        @Option(name: .customLong("project"), help: ArgumentHelp("Export every session of this project directory (repeatable).", valueName: "dir"))
        var projects: [String] = []

        @Option(help: ArgumentHelp("Only sessions with something older than AGE (like 90d, 12h, 2w).", valueName: "age"))
        var olderThan: String?

        @Option(help: ArgumentHelp("Upload the archive to this remote folder (webdav+https://host/path/ or s3://bucket/prefix/), check the upload, then remove the local copy unless --keep.", valueName: "remote"))
        var to: String?

        @Flag(help: "With --to: keep the local archive too.")
        var keep = false

        @Option(help: "zstd compression level, 1 to 19.")
        var level = 3

        @Option(help: "zstd worker threads (default: the number of cores).")
        var threads: Int?

        @Option(help: ArgumentHelp("Milliseconds to wait for a lock held by the app.", valueName: "ms"))
        var busyTimeout: Int32 = 5000

        @Flag(help: "Show what would be exported (sessions, rows per table, estimated size); write nothing, take no lock.")
        var dryRun = false

        @Option(help: ArgumentHelp("CPU scheduling niceness, 0 to 19: at 19 (the default) the running app's own work always comes first.",
                                   valueName: "n"))
        var nice: Int32 = 19

        func validate() throws {
            guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19 (got \(level))") }
            if let threads, !(1...64).contains(threads) { throw ValidationError("--threads must be between 1 and 64") }
            guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must not be negative") }
            guard (0...19).contains(nice) else { throw ValidationError("--nice must be between 0 and 19") }
            if let olderThan {
                do { _ = try Age(parsing: olderThan) } catch let error as BackupError { throw ValidationError(error.message) }
            }
            if sessions.contains(where: \.isEmpty) { throw ValidationError("--session needs a session id") }
            if projects.contains(where: \.isEmpty) { throw ValidationError("--project needs a directory") }
            if keep && to == nil { throw ValidationError("--keep only applies with --to") }
            if dryRun && (to != nil || keep) { throw ValidationError("--dry-run uploads nothing: leave out --to and --keep") }
            if let to, RemoteLocation.isRemote(to) {  // NAME: remotes are checked by run(), with the config file
                do {
                    _ = try RemoteLocation(parsing: to, options: remoteOptions.options)
                } catch let error as BackupError where error.code == .usage {
                    throw ValidationError(error.message)
                } catch {
                    // Missing credentials are reported by run(), with their own exit code, before any export.
                }
            }
        }

        func run() throws {
            try Console.run("export", global) { logger in
                Console.lowerPriority(to: nice)
                let target = try to.map { try remoteOptions.named($0) }
                if let target { _ = try RemoteLocation(parsing: target.url, options: target.group.options, environment: target.environment) }  // credentials first
                let remoteLock = try target.map { try RemoteLock.acquire($0.url, options: $0.group.options, command: "export", wait: locking.duration,
                                                                       environment: $0.environment) }
                defer { remoteLock?.release() }
                var options = ExportOptions()
                options.encryption = try encryption.encryption()
                options.redactEnvironment = encryption.redactEnv
                options.lockWait = locking.duration
                options.databasePath = db
                options.output = output
                // Without --output, an archive that is only on its way to a remote is made in $TMPDIR.
                if to != nil && output == nil {
                    options.output = FileManager.default.temporaryDirectory.path + "/"
                    options.lockOutputFolder = false  // a staging folder other runs share: the remote is what is locked
                }
                options.selection = SessionSelection(sessionIDs: sessions, projects: projects,
                                                     olderThan: try olderThan.map(Age.init(parsing:)))
                options.compressionLevel = level
                if let threads { options.threads = threads }
                options.busyTimeout = busyTimeout
                if dryRun {
                    let started = Date()
                    let plan = try Exporter(logger: logger).plan(options)
                    var report = ExportReport(database: plan.database, archive: nil, kind: plan.manifest.map { _ in plan.kind }, bytes: nil,
                                              sessions: plan.manifest?.sessions ?? [], tables: plan.manifest?.tables ?? [],
                                              skippedTables: plan.manifest?.skippedTables ?? [],
                                              seconds: (Date().timeIntervalSince(started) * 1000).rounded() / 1000,
                                              message: plan.manifest == nil ? "no session matches the selection; nothing would be written" : nil)
                    report.dryRun = true
                    report.estimatedBytes = plan.manifest == nil ? nil : plan.estimatedBytes
                    Console.emit(report, global, warnings: plan.manifest?.foreignKeyWarning.map { [$0] } ?? []) {
                        renderPlan(report, databaseBytes: plan.databaseBytes)
                    }
                    return
                }
                let bar = ProgressBar(options: global)
                let started = Date()
                let result = try Exporter(logger: logger, progress: bar.handler).export(options)
                var uploadedTo: String?
                if let target, let archive = result.archivePath {
                    var transfers = target.transfers(global)
                    transfers.progress = bar.handler
                    let info = try transfers.push(archive, to: target.url, environment: target.environment)
                    uploadedTo = target.url.hasSuffix("/") ? target.url + info.name : target.url + "/" + info.name
                    if !keep { try? FileManager.default.removeItem(atPath: archive) }
                }
                bar.finish()
                let seconds = Date().timeIntervalSince(started)
                var report = ExportReport(database: result.database ?? db ?? "", archive: result.archivePath, kind: result.manifest?.kind,
                                          bytes: result.bytes, sessions: result.manifest?.sessions ?? [],
                                          tables: result.manifest?.tables ?? [], skippedTables: result.manifest?.skippedTables ?? [],
                                          seconds: (seconds * 1000).rounded() / 1000,
                                          message: result.archivePath == nil ? "no session matches the selection; nothing written" : nil)
                report.uploadedTo = uploadedTo
                if uploadedTo != nil && !keep { report.archive = nil }
                Console.emit(report, global, warnings: result.manifest?.foreignKeyWarning.map { [$0] } ?? []) {
                    render(report, manifest: result.manifest)
                }
            }
        }

        /// `--dry-run`: the sessions, the rows per table, the sizes; nothing was written.
        private func renderPlan(_ report: ExportReport, databaseBytes: Int64) {
            guard let kind = report.kind else {
                Console.out("Nothing to export: no session matches the selection; nothing would be written.")
                return
            }
            let jobs = report.tables.first { $0.name == "background_jobs" }?.rows ?? 0
            Console.out("Would export \(report.database) (dry run; nothing written)")
            Console.out("  \(kind.rawValue), \(report.sessionCount) sessions, \(jobs) jobs; database \(Console.bytes(databaseBytes)), archive about \(Console.bytes(report.estimatedBytes ?? 0)) at --level \(level)")
            Console.out("  rows: " + report.tables.map { "\($0.name) \($0.rows)" }.joined(separator: ", "))
            if !report.skippedTables.isEmpty { Console.out("  not included: \(report.skippedTables.joined(separator: ", "))") }
            guard !report.sessions.isEmpty else { return }
            let idWidth = SessionIDs.uniquePrefixLength(report.sessions.map(\.id))
            for session in report.sessions.prefix(20) {
                Console.out("  " + Console.column(String(session.id.prefix(idWidth)), idWidth + 2) + Console.column("\(session.jobs) jobs", 10) + session.name)
            }
            if report.sessions.count > 20 { Console.out("  … and \(report.sessions.count - 20) more (--json lists all)") }
        }

        private func render(_ report: ExportReport, manifest: Manifest?) {
            if let uploaded = report.uploadedTo, let manifest {
                Console.out("Uploaded \(uploaded)")
                Console.out("  \(manifest.kind.rawValue), \(Console.bytes(report.bytes ?? 0)), \(manifest.sessions.count) sessions, in \(String(format: "%.1f", report.seconds)) s")
                if let archive = report.archive { Console.out("  kept \(archive)") }
                return
            }
            guard let archive = report.archive, let manifest else {
                Console.out("Nothing to export: no session matches the selection; nothing written.")
                return
            }
            let jobs = manifest.rows(of: "background_jobs") ?? 0
            Console.out("Wrote \(archive)")
            Console.out("  \(manifest.kind.rawValue), \(Console.bytes(report.bytes ?? 0)), \(manifest.sessions.count) sessions, \(jobs) jobs, in \(String(format: "%.1f", report.seconds)) s")
            Console.out("  appdata.db sha256 \(manifest.entries[0].sha256)")
            if !manifest.skippedTables.isEmpty {
                Console.out("  not included: \(manifest.skippedTables.joined(separator: ", "))")
            }
        }
    }
}
