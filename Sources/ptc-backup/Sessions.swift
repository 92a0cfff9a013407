import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Sessions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List sessions with their ids: in the live database, an archive, or a remote archive.",
            discussion: """
                One line per session, newest first: the id (its first 8 characters, more when two sessions \
                share them; any command takes such a prefix for an id), when it was last updated (local time, \
                "3h ago" within the last week), project, jobs, terminal sessions, size and name, cut to the \
                terminal's width (COLUMNS, when set, wins). The live database is opened read-only and read \
                in one read transaction: the running app never waits for it. An archive is read from its \
                manifest only; a remote archive is downloaded into a private temporary folder first (removed \
                afterwards). Archives written before this version show no terminals or size ("-"), nor \
                do those written with SQLite older than 3.43 show a size (measuring it there would read all \
                the text); --search reads the first 500 characters of an archive's task descriptions.

                Examples:
                  ptc-backup sessions --db tour.db --search upload --limit 5
                  ptc-backup sessions today.tar.zst --project /home/alex/code/billing-service
                  ptc-backup sessions backups/latest --limit 3
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @OptionGroup(title: "latest") var latest: LatestOptions

        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        @Argument(help: ArgumentHelp("An archive, or its URL (webdav+https://.../NAME.tar.zst, s3://.../NAME.tar.zst, NAME:path); DIR/latest or URL/latest: the newest there; default: the live database.", valueName: "archive|remote-url"))
        var archive: String?

        @Option(help: ArgumentHelp("The database (default: PLANTOCODE_DB, then the app's data folder).", valueName: "path"))
        var db: String?

        @Option(help: ArgumentHelp("Only sessions of this project directory.", valueName: "dir"))
        var project: String?

        @Option(help: ArgumentHelp("Only sessions whose name, task description or project contains TEXT (any case).", valueName: "text"))
        var search: String?

        @Option(help: ArgumentHelp("Only sessions updated within AGE (like 12h, 7d, 2w).", valueName: "age"))
        var since: String?

        @Option(help: ArgumentHelp("At most N sessions (the newest).", valueName: "n"))
        var limit: Int?

        func validate() throws {
            if db != nil && archive != nil { throw ValidationError("give --db or an archive, not both") }
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more (got \(limit))") }
            if let since {
                do { _ = try Age(parsing: since) } catch let error as BackupError { throw ValidationError(error.message) }
            }
        }

        func run() throws {
            try Console.run("sessions", global) { _ in
                var query = SessionQuery(project: project.map(Self.expandingHome), search: search, limit: limit)
                query.since = try since.map(Age.init(parsing:))
                let report: SessionsReport
                if let archive {
                    let source = try remoteOptions.named(archive)
                    var listing = SessionListing(environment: source.environment)
                    listing.keys = try decryption.keys()
                    let transfers = source.transfers(global)
                    let chosen = try latest.resolve(source.url, transfers, keys: listing.keys, environment: source.environment)
                    report = RemoteLocation.isRemote(chosen)
                        ? try listing.remote(chosen, transfers: transfers, query: query)
                        : try listing.archive(chosen, query: query)
                } else {
                    report = try SessionListing().database(db, query: query)
                }
                Console.emit(report, global) { render(report, width: Console.terminalWidth(), now: query.now) }
            }
        }

        static func expandingHome(_ path: String) -> String {
            path == "~" || path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst() : path
        }

        private func render(_ report: SessionsReport, width: Int?, now: Date) {
            guard !report.sessions.isEmpty else {
                let from = report.archive ?? report.database ?? "the database"
                Console.out(report.totalSessionCount == 0 ? "No sessions in \(from)." : "No session of the \(report.totalSessionCount) in \(from) matches.")
                return
            }
            for line in Self.lines(report, width: width, now: now) { Console.out(line) }
        }

        /// The listing as lines of at most `width` columns (nil: as wide as they come).
        static func lines(_ report: SessionsReport, width: Int?, now: Date) -> [String] {
            let idWidth = report.idPrefixLength
            let home = NSHomeDirectory()
            func project(_ path: String) -> String { path.hasPrefix(home + "/") ? "~" + path.dropFirst(home.count) : path }
            let fixed = idWidth + 2 + 17 + 6 + 6 + 10  // id, updated, jobs, terminals, size, each with its gap
            let longestProject = report.sessions.map { Console.displayWidth(of: Console.printable(project($0.projectDirectory))) }.max() ?? 0
            var projectWidth = min(max(longestProject, 7), 30)
            var nameWidth: Int?
            if let width {
                let remaining = max(width - fixed, 10)
                projectWidth = min(projectWidth, max(7, remaining / 2))
                nameWidth = max(remaining - projectWidth - 1, 3)
            }
            func name(_ text: String) -> String {
                guard let nameWidth else { return Console.printable(text) }
                return Console.column(text, nameWidth).trimmingTrailingSpaces
            }
            var lines = [Console.column("ID", idWidth + 2) + Console.column("UPDATED", 17) + Console.column("PROJECT", projectWidth + 1)
                         + Console.column("JOBS", 6) + Console.column("TERMS", 6) + Console.column("SIZE", 10) + "NAME"]
            for s in report.sessions {
                lines.append(Console.column(String(s.id.prefix(idWidth)), idWidth + 2)
                             + Console.column(Console.when(s.updatedAt ?? s.createdAt, now: now), 17)
                             + Console.leftColumn(project(s.projectDirectory), projectWidth) + " "
                             + Console.column(String(s.jobs), 6) + Console.column(s.terminals.map(String.init) ?? "-", 6)
                             + Console.column(s.bytes.map(Console.bytes) ?? "-", 10) + name(s.name))
            }
            // Narrower than the columns themselves: every line cut at the width.
            guard let width else { return lines }
            return lines.map { Console.displayWidth(of: $0) > width ? Console.column($0, width) : $0 }
        }
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
