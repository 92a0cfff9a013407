import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// `sessions` on a live database, an archive and a remote archive, its filters, its text, and session id
/// prefixes wherever an id is taken.
@Suite struct SessionsCLITests {
    /// A fixture whose sessions have known names, projects and update times (seconds and milliseconds).
    struct Known {
        let dir: TemporaryDirectory
        let path: String
        /// Ids, newest first.
        let ids: [String]
    }

    static func known(_ label: String, sessions: Int = 4) throws -> Known {
        let dir = TemporaryDirectory(label)
        let fixture = try Fixtures.database(in: dir, bytes: 1_200_000, seed: 91, maxTerminalLog: 5_000)
        try #require(fixture.sessionIDs.count >= sessions)
        let now = Int64(Date().timeIntervalSince1970)
        let db = try Connection(path: fixture.path, mode: .readWrite)
        // Newest first: 1 hour ago (ms), 2 days ago, 20 days ago (ms), 60 days ago, then older.
        let ages: [Int64] = [3_600, 2 * 86_400, 20 * 86_400, 60 * 86_400]
        var ids: [String] = []
        for (index, id) in fixture.sessionIDs.enumerated() {
            let age = index < ages.count ? ages[index] : 100 * 86_400 + Int64(index) * 60
            let stamp = index.isMultiple(of: 2) ? (now - age) * 1000 : now - age
            let name = ["Fix the LOGIN form", "Écrire la doc", "Migrate billing", "Refactor uploads"][index % 4] + " \(index)"
            let project = index.isMultiple(of: 2) ? "/home/ana/code/app" : "/home/ana/code/other"
            try db.execute("UPDATE sessions SET updated_at = ?, created_at = ?, name = ?, project_directory = ?, task_description = ? WHERE id = ?",
                           [.integer(stamp), .integer(now - age - 60), .text(name), .text(project),
                            .text(index == 3 ? "needle in the task description" : "plain"), .text(id)])
            ids.append(id)
        }
        try db.close()
        return Known(dir: dir, path: fixture.path, ids: ids)
    }

    @Test func liveDatabaseNewestFirstWithShortIDsAndSizes() throws {
        let known = try Self.known("sessions-live")
        let json = try ptc(["sessions", "--db", known.path, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let listed = try jsonResult(SessionsReport.self, json.stdout)
        #expect(listed.sessions.map(\.id) == known.ids)
        #expect(listed.sessionCount == known.ids.count && listed.totalSessionCount == known.ids.count)
        #expect(listed.database == known.path && listed.archive == nil)
        #expect(listed.idPrefixLength == 8)
        let first = try #require(listed.sessions.first)
        #expect(first.jobs > 0 && (first.terminals ?? -1) >= 0 && (first.bytes ?? 0) > 0)

        let text = try ptc(["sessions", "--db", known.path], extra: ["TZ": "UTC"])
        #expect(text.status == 0 && text.stderr == "", "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ID ") == true)
        #expect(lines.count == known.ids.count + 1)
        #expect(lines[1].hasPrefix(String(known.ids[0].prefix(8)) + "  1h ago"), "\(lines[1])")
        #expect(lines[2].contains("2d ago"))
        #expect(lines[3].contains(" 20") && !lines[3].contains("ago"), "older than a week: a date, \(lines[3])")
        #expect(lines[1].hasSuffix("Fix the LOGIN form 0"))
        // Read-only: the database file is unchanged and no lock file was left.
        #expect(!known.dir.contents().contains { $0.contains("ptc-backup.lock") })
    }

    @Test func filtersSearchSinceLimitProject() throws {
        let known = try Self.known("sessions-filters")
        func ids(_ arguments: [String]) throws -> [String] {
            let result = try ptc(["sessions", "--db", known.path, "--json"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try jsonResult(SessionsReport.self, result.stdout).sessions.map(\.id)
        }
        #expect(try ids(["--search", "login"]).first == known.ids[0])          // name, any case
        #expect(try ids(["--search", "login"]).allSatisfy { known.ids.firstIndex(of: $0)! % 4 == 0 })
        #expect(try ids(["--search", "NEEDLE"]) == [known.ids[3]])             // task description
        #expect(try ids(["--search", "code/other"]).count == known.ids.indices.filter { !$0.isMultiple(of: 2) }.count)  // project
        #expect(try ids(["--since", "3d"]) == Array(known.ids.prefix(2)))      // ms and s both understood
        #expect(try ids(["--since", "30d"]) == Array(known.ids.prefix(3)))
        #expect(try ids(["--limit", "2"]) == Array(known.ids.prefix(2)))
        #expect(try ids(["--project", "/home/ana/code/app/", "--limit", "2"]) == [known.ids[0], known.ids[2]])
        #expect(try ids(["--search", "nothing like this"]) == [])
        let none = try ptc(["sessions", "--db", known.path, "--search", "nothing like this"])
        #expect(none.status == 0 && none.stdout.contains("No session of the"))
        let bad = try ptc(["sessions", "--db", known.path, "--since", "3y"])
        #expect(bad.status == 64 && bad.stderr.contains("invalid age"))
    }

    @Test func archiveAndRemoteArchiveFromTheManifest() throws {
        let known = try Self.known("sessions-archive")
        let archive = known.dir.file("a.tar.zst")
        let export = try ptc(["export", "--db", known.path, "--output", archive, "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let fromDatabase = try jsonResult(SessionsReport.self, try ptc(["sessions", "--db", known.path, "--json"]).stdout)
        let local = try ptc(["sessions", archive, "--json", "--search", "login"])
        #expect(local.status == 0, "\(local.stderr)")
        let fromArchive = try jsonResult(SessionsReport.self, local.stdout)
        #expect(fromArchive.archive == archive && fromArchive.database == nil)
        #expect(fromArchive.sessions.map(\.id) == fromDatabase.sessions.filter { $0.name.contains("LOGIN") }.map(\.id))
        #expect(fromArchive.sessions.first?.terminals == fromDatabase.sessions.first?.terminals)
        // Sizes go into manifests only where SQLite measures text without reading it (octet_length, 3.43).
        let cheap = Connection.libraryVersion.compare("3.43.0", options: .numeric) != .orderedAscending
        #expect(fromArchive.sessions.first?.bytes == (cheap ? fromDatabase.sessions.first?.bytes : nil))
        let text = try ptc(["sessions", archive, "--limit", "1"])
        #expect(text.stdout.split(separator: "\n").last?.contains(cheap ? " KB " : " -  ") == true, "\(text.stdout)")

        let server = try RcloneWebDAV.shared()
        let folder = "webdav+\(server.baseURL)/sessions-cli/"
        let credentials = ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password]
        let push = try ptc(["push", archive, folder, "--quiet"], extra: credentials)
        #expect(push.status == 0, "\(push.stderr)")
        let remote = try ptc(["sessions", folder + "a.tar.zst", "--json", "--limit", "1"], extra: credentials)
        #expect(remote.status == 0, "\(remote.stderr)")
        let fromRemote = try jsonResult(SessionsReport.self, remote.stdout)
        #expect(fromRemote.sessions.map(\.id) == [known.ids[0]])
        #expect(fromRemote.totalSessionCount == known.ids.count)
        let missing = try ptc(["sessions", folder + "missing.tar.zst"], extra: credentials)
        #expect(missing.status == 66, "\(missing.stderr)")
    }

    @Test func narrowTerminalCutsNamesAndControlCharactersAreEscaped() throws {
        let known = try Self.known("sessions-text")
        let db = try Connection(path: known.path, mode: .readWrite)
        try db.execute("UPDATE sessions SET name = ? WHERE id = ?", [.text("evil\u{1B}]0;owned\u{07}\u{1B}[2J name\nsecond line"), .text(known.ids[0])])
        try db.execute("UPDATE sessions SET name = ? WHERE id = ?", [.text(String(repeating: "long name ", count: 20)), .text(known.ids[1])])
        try db.close()
        for width in [50, 80, 120] {
            let result = try ptc(["sessions", "--db", known.path], extra: ["COLUMNS": "\(width)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == known.ids.count + 1, "a name's newline stays on its line")
            for line in lines { #expect(line.count <= width, "\(width): \(line)") }
            #expect(lines[2].hasSuffix("…"), "\(lines[2])")
        }
        let wide = try ptc(["sessions", "--db", known.path], extra: ["COLUMNS": "400"])
        #expect(wide.stdout.contains("evil\\u{1B}]0;owned\\u{07}\\u{1B}[2J name\\u{0A}second line"))
        // Piped without COLUMNS: whole lines.
        let piped = try ptc(["sessions", "--db", known.path], extra: ["COLUMNS": ""])
        #expect(piped.stdout.contains(String(repeating: "long name ", count: 20).trimmingCharacters(in: .whitespaces)))
    }

    /// Ids shown at 8 characters, more when two share them; an 8+ character prefix works for `export --session`;
    /// one several sessions share is 64 listing them.
    @Test func idPrefixesAreResolvedOrAmbiguous() throws {
        let known = try Self.known("sessions-prefix")
        let db = try Connection(path: known.path, mode: .readWrite)
        for suffix in ["1", "2"] {
            try db.execute("CREATE TEMP TABLE copy AS SELECT * FROM sessions WHERE id = ?", [.text(known.ids[0])])
            try db.execute("UPDATE temp.copy SET id = ?, name = ?", [.text("abcdef012345-twin-\(suffix)"), .text("twin \(suffix)")])
            try db.execute("INSERT INTO sessions SELECT * FROM temp.copy")
            try db.execute("DROP TABLE temp.copy")
        }
        try db.close()
        let listed = try jsonResult(SessionsReport.self, try ptc(["sessions", "--db", known.path, "--json"]).stdout)
        #expect(listed.idPrefixLength == "abcdef012345-twin-".count + 1)
        let text = try ptc(["sessions", "--db", known.path, "--search", "twin"])
        #expect(text.stdout.contains("abcdef012345-twin-1 ") && text.stdout.contains("abcdef012345-twin-2 "))

        let out = known.dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let prefix = String(known.ids[1].prefix(8))
        let exported = try ptc(["export", "--db", known.path, "--session", prefix, "--output", out + "/one.tar.zst", "--json"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let manifest = try jsonResult(InspectReport.self, try ptc(["inspect", out + "/one.tar.zst", "--json"]).stdout).manifest
        #expect(manifest.selection?.sessionIDs == [known.ids[1]], "the manifest records the whole id")
        #expect(manifest.sessions.map(\.id) == [known.ids[1]])

        let ambiguous = try ptc(["export", "--db", known.path, "--session", "abcdef012345", "--output", out + "/two.tar.zst"])
        #expect(ambiguous.status == 64, "\(ambiguous.stderr)")
        #expect(ambiguous.stderr.contains("ambiguous") && ambiguous.stderr.contains("abcdef012345-twin-1")
                && ambiguous.stderr.contains("abcdef012345-twin-2"), "\(ambiguous.stderr)")
        let unknown = try ptc(["export", "--db", known.path, "--session", "ffffffffffff", "--output", out + "/three.tar.zst"])
        #expect(unknown.status == 66 && unknown.stderr.contains("'ffffffffffff'"), "\(unknown.stderr)")
        let short = try ptc(["export", "--db", known.path, "--session", String(known.ids[1].prefix(7)), "--output", out + "/four.tar.zst"])
        #expect(short.status == 66, "7 characters are not a prefix: \(short.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: out).filter { !$0.hasPrefix(".") }
        #expect(written == ["one.tar.zst"])
    }

    /// `inspect` names each session by its short id; `list` is one aligned table (kind, host, size, sessions, age).
    @Test func inspectShowsIDsAndListIsOneAlignedTable() throws {
        let known = try Self.known("sessions-inspect")
        let out = known.dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        #expect(try ptc(["export", "--db", known.path, "--output", out + "/", "--quiet"]).status == 0)
        #expect(try ptc(["export", "--db", known.path, "--session", known.ids[0], "--output", out + "/", "--quiet"]).status == 0)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: out + "/plantocode-other-20250101T000000Z-full.tar.zst"))
        let archives = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix("-partial.tar.zst") }
        let inspect = try ptc(["inspect", out + "/" + archives[0]])
        #expect(inspect.stdout.contains("  ID "))
        #expect(inspect.stdout.contains("  " + known.ids[0].prefix(8) + "  "), "\(inspect.stdout)")

        let list = try ptc(["list", out], extra: ["TZ": "UTC"])
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("CREATED") && lines[0].contains("KIND") && lines[0].contains("HOST") && lines[0].contains("SESSIONS"))
        let nameColumn = try #require(lines[0].range(of: "NAME")).lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst() {
            #expect(line.utf16.count > nameColumn && line.dropFirst(nameColumn).hasPrefix("plantocode-"), "aligned: \(line)")
        }
        #expect(lines.contains { $0.hasPrefix("just now") && $0.contains(" partial ") && $0.contains(" 1 ") })
        #expect(lines.contains { $0.contains(" full ") && $0.contains(" \(known.ids.count) ") })
        #expect(lines.contains { $0.contains(" other ") && $0.contains("(unreadable: ") })
    }

    /// The app holding a write transaction neither delays `sessions` nor shows it uncommitted rows: WAL
    /// readers see the last commit at once.
    @Test func aWriterHoldingTheDatabaseDoesNotDelayTheListing() throws {
        let known = try Self.known("sessions-writer")
        let holder = try LockHolder.start(database: known.path, write: "UPDATE sessions SET name = 'uncommitted'",
                                          readyFile: known.dir.file("locked"), seconds: 20)
        defer { holder.kill(SIGKILL); _ = try? holder.wait() }
        let started = Date()
        let result = try ptc(["sessions", "--db", known.path, "--json"])
        let seconds = Date().timeIntervalSince(started)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(seconds < 4, "took \(seconds) s: it waited for the writer (busy timeout 5 s)")
        let listed = try jsonResult(SessionsReport.self, result.stdout)
        #expect(listed.sessions.count == known.ids.count && !listed.sessions.contains { $0.name == "uncommitted" })
    }
}
