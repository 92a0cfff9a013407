@testable import BackupCore
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// `cleanup`: the app's own rule, the archive before the delete, exactly the archived unchanged rows deleted.
@Suite struct CleanupTests {
    /// The app's rule written plainly from SPEC.md, apart from ``CleanupRule``: the ids it deletes.
    static func appRuleDeletes(_ path: String, setting: Int?, now: Date) throws -> Set<String> {
        let days = setting ?? 7
        let nowMilliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        var sql = "SELECT id FROM background_jobs WHERE status IN ('completed', 'failed', 'canceled')"
        if days != -2 { sql += " AND task_type NOT IN ('implementation_plan', 'implementation_plan_merge')" }
        if days != -1 && days != -2 {
            let keep = days > 0 ? days : 90
            sql += " AND created_at < \(nowMilliseconds - Int64(keep) * 86_400_000)"
        }
        return Set(try Connection(path: path, mode: .readOnly).rows(sql).compactMap { $0[0].string })
    }

    static func jobIDs(_ path: String) throws -> Set<String> {
        Set(try Connection(path: path, mode: .readOnly).rows("SELECT id FROM background_jobs").compactMap { $0[0].string })
    }

    func options(_ db: String, output: String, now: Date) -> CleanupOptions {
        var options = CleanupOptions()
        options.databasePath = db
        options.output = output
        options.now = now
        options.host = "testhost"
        return options
    }

    /// Every value of the app's setting, on databases with timestamps in seconds and in milliseconds.
    @Test(arguments: ["-2", "-1", "0", "1", "7", "30", "absent", "not JSON", "{\"clearJobHistoryAfterDays\": 1.5}"])
    func theRuleIsTheApps(setting: String) throws {
        let dir = TemporaryDirectory("cleanup-rule")
        let fixture = try Fixtures.database(in: dir, bytes: 400_000, seed: 61)
        let db = try Connection(path: fixture.path, mode: .readWrite)
        switch setting {
        case "absent": break
        case "not JSON": try db.execute("INSERT INTO key_value_store (key, value, updated_at) VALUES ('app_settings', 'days=3', 1)")
        case let json where json.hasPrefix("{"):
            try db.execute("INSERT INTO key_value_store (key, value, updated_at) VALUES ('app_settings', ?, 1)", [.text(json)])
        default:
            try db.execute("INSERT INTO key_value_store (key, value, updated_at) VALUES ('app_settings', ?, 1)",
                           [.text("{\"theme\":\"dark\",\"clearJobHistoryAfterDays\":\(setting)}")])
        }
        try db.close()
        let now = Date()
        let before = try Self.jobIDs(fixture.path)
        let expected = try Self.appRuleDeletes(fixture.path, setting: Int(setting), now: now)
        let report = try Cleaner().run(options(fixture.path, output: dir.path, now: now))
        #expect(report.deleted["background_jobs"] ?? 0 == Int64(expected.count))
        #expect(try Self.jobIDs(fixture.path) == before.subtracting(expected))
        if Int(setting) == nil { #expect(report.rule.contains("default of 7 days"), "\(report.rule)") }
        if !expected.isEmpty {
            // Every deleted job is in the verified archive.
            let archive = try #require(report.archive)
            #expect(try Verifier().verify(archive).problems == [])
            let inside = dir.file("inside.db")
            try ArchiveFixture.extractDatabase(archive, to: inside)
            #expect(expected.isSubset(of: try Self.jobIDs(inside)))
        }
    }

    /// A merge of the cleanup archive into the cleaned database brings back the jobs and terminals, rows
    /// equal to the originals.
    @Test func mergingTheArchiveBackRestoresTheRowsAsTheyWere() throws {
        let dir = TemporaryDirectory("cleanup-merge")
        let fixture = try Fixtures.database(in: dir, bytes: 500_000, seed: 62, rollbackJournal: true)
        let original = try TableDigest.digests(of: fixture.path)
        let report = try Cleaner().run(options(fixture.path, output: dir.path, now: Date()))
        #expect((report.deleted["background_jobs"] ?? 0) > 0)
        #expect((report.deleted["terminal_sessions"] ?? 0) > 0)
        #expect(try TableDigest.digests(of: fixture.path)["background_jobs"] != original["background_jobs"])
        let merged = try Importer().run(mergeOptions(try #require(report.archive), into: fixture.path))
        #expect(merged.merge?.rowsInserted["background_jobs"] == report.deleted["background_jobs"])
        let after = try TableDigest.digests(of: fixture.path)
        for table in ["sessions", "background_jobs", "terminal_sessions"] { #expect(after[table] == original[table], "\(table)") }
    }

    /// Rows that change between the archive and the delete stay, and are reported.
    @Test func jobsThatChangedMeanwhileAreKept() throws {
        let dir = TemporaryDirectory("cleanup-changed")
        let fixture = try Fixtures.database(in: dir, bytes: 400_000, seed: 63)
        let now = Date()
        let cleaner = Cleaner()
        let options = options(fixture.path, output: dir.path, now: now)
        let expected = try Self.appRuleDeletes(fixture.path, setting: nil, now: now)
        try #require(expected.count >= 2)
        var export = ExportOptions()
        export.databasePath = fixture.path
        export.output = dir.path + "/"
        export.jobs = JobSelection(rule: CleanupRule(source: .absent), ahead: nil, now: now)
        let archive = try #require(try Exporter().export(export).archivePath)
        let workspace = try Verifier().makeWorkspace()
        let archived = try #require(try Verifier().extract(archive, into: workspace.path).databasePath)
        // The app touches one archived job, and deletes another itself, before the cleanup's delete.
        let sorted = expected.sorted()
        let db = try Connection(path: fixture.path, mode: .readWrite)
        try db.execute("UPDATE background_jobs SET updated_at = updated_at + 1 WHERE id = ?", [.text(sorted[0])])
        try db.execute("DELETE FROM background_jobs WHERE id = ?", [.text(sorted[1])])
        try db.close()
        let deletion = try cleaner.delete(archivedDatabase: archived, from: fixture.path, rule: CleanupRule(source: .absent), options: options)
        #expect(deletion.skipped == [sorted[0], sorted[1]].sorted())
        #expect(deletion.deleted["background_jobs"] == Int64(expected.count - 2))
        #expect(try Self.jobIDs(fixture.path).contains(sorted[0]))
        #expect(deletion.lockHeldMilliseconds > 0)
        withExtendedLifetime(workspace) {}
    }

    @Test func dryRunNoDeleteAndNothingToDo() throws {
        let dir = TemporaryDirectory("cleanup-modes")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000, seed: 64, rollbackJournal: true)
        let bytes = try fileBytes(fixture.path)
        var dry = options(fixture.path, output: dir.path, now: Date())
        dry.dryRun = true
        let plan = try Cleaner().run(dry)
        #expect(plan.archive == nil && (plan.toDelete["background_jobs"] ?? 0) > 0)
        #expect(try fileBytes(fixture.path) == bytes)
        #expect(!dir.contents().contains { $0.hasSuffix(".tar.zst") })

        var archiveOnly = options(fixture.path, output: dir.path, now: Date())
        archiveOnly.noDelete = true
        let kept = try Cleaner().run(archiveOnly)
        #expect(kept.archive != nil && kept.deleted.isEmpty)
        #expect(try fileBytes(fixture.path) == bytes)

        // Once cleaned (nothing archived ahead), a second run finds nothing: no archive, one line.
        var once = options(fixture.path, output: dir.path, now: Date())
        once.ahead = nil
        #expect(try Cleaner().run(once).archive != nil)
        let archives = dir.contents().filter { $0.hasSuffix(".tar.zst") }
        let nothing = try Cleaner().run(once)
        #expect(nothing.archive == nil && nothing.message?.contains("nothing to clean up") == true)
        #expect(dir.contents().filter { $0.hasSuffix(".tar.zst") } == archives)
    }
}

extension CleanupTests {
    /// `--sessions-older-than`: whole sessions, untouched for that long, go with everything under them,
    /// and a merge of the archive brings them back.
    @Test func wholeOldSessionsGoWithEverythingUnderThem() throws {
        let dir = TemporaryDirectory("cleanup-sessions")
        let fixture = try Fixtures.database(in: dir, bytes: 1_500_000, seed: 65)
        let now = Date()
        let cutoff = Int64(now.timeIntervalSince1970) - 30 * 86_400
        func seconds(_ column: String) -> String { "(CASE WHEN \(column) > 100000000000 THEN \(column) / 1000 ELSE \(column) END)" }
        let old = Set(try Connection(path: fixture.path, mode: .readOnly).rows("""
            SELECT id FROM sessions s WHERE \(seconds("s.updated_at")) < \(cutoff) AND NOT EXISTS (SELECT 1 FROM background_jobs j
            WHERE j.session_id = s.id AND (\(seconds("j.created_at")) >= \(cutoff) OR \(seconds("coalesce(j.updated_at, j.created_at)")) >= \(cutoff)))
            """).compactMap { $0[0].string })
        try #require(!old.isEmpty, "the fixture has no session untouched for 30 days")
        let counts = try Connection(path: fixture.path, mode: .readOnly)
        let histories = try counts.scalar("SELECT count(*) FROM task_description_history").int64 ?? 0
        let sessions = try counts.scalar("SELECT count(*) FROM sessions").int64 ?? 0
        try counts.close()
        var options = options(fixture.path, output: dir.path, now: now)
        options.sessionsOlderThan = try Age(parsing: "30d")
        let report = try Cleaner().run(options)
        #expect(report.deleted["sessions"] == Int64(old.count))
        let db = try Connection(path: fixture.path, mode: .readOnly)
        #expect(try db.scalar("SELECT count(*) FROM sessions").int64 == sessions - Int64(old.count))
        for id in old {
            #expect(try db.scalar("SELECT count(*) FROM background_jobs WHERE session_id = ?", [.text(id)]).int64 == 0)
            #expect(try db.scalar("SELECT count(*) FROM task_description_history WHERE session_id = ?", [.text(id)]).int64 == 0)
        }
        try db.close()
        _ = try Importer().run(mergeOptions(try #require(report.archive), into: fixture.path))
        let back = try Connection(path: fixture.path, mode: .readOnly)
        #expect(try back.scalar("SELECT count(*) FROM sessions").int64 == sessions)
        #expect(try back.scalar("SELECT count(*) FROM task_description_history").int64 == histories)
    }
}
