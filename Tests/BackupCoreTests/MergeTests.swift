@testable import BackupCore
import BackupDigest
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import PlanToCodeSchema
import Testing

func mergeOptions(_ archive: String, into target: String, policy: ConflictPolicy = .newer, remaps: [PathRemap] = [],
                  skipInvalid: Bool = false, dryRun: Bool = false) -> ImportOptions {
    var options = ImportOptions(archivePath: archive)
    options.databasePath = target
    options.mode = .merge
    options.onConflict = policy
    options.remaps = remaps
    options.skipInvalid = skipInvalid
    options.dryRun = dryRun
    return options
}

func counts(_ path: String) throws -> [String: Int64] {
    let db = try Connection(path: path, mode: .readOnly)
    defer { try? db.close() }
    var result: [String: Int64] = [:]
    for table in try DatabaseFacts(connection: db).tables {
        result[table] = try db.scalar("SELECT count(*) FROM \"\(table)\"").int64
    }
    return result
}

func value(_ path: String, _ sql: String, _ arguments: [SQLValue] = []) throws -> SQLValue {
    let db = try Connection(path: path, mode: .readOnly)
    defer { try? db.close() }
    return try db.scalar(sql, arguments)
}

@Suite struct MergeTests {
    /// A target, and an archive made from a copy of it where session X is newer, Y older, N is new,
    /// and where the target has a job on X the archive lacks.
    struct Scenario {
        let dir: TemporaryDirectory
        let target: String
        let archive: String
        let x: String, y: String, n: String
        let targetOnlyJob = "target-only-job"
    }

    func scenario() throws -> Scenario {
        let dir = TemporaryDirectory("merge")
        let base = try Fixtures.database(in: dir, name: "base.db", bytes: 1_200_000, seed: 31, maxTerminalLog: 20_000)
        try #require(base.sessionIDs.count >= 2)
        let sourcePath = dir.file("source.db")
        let db0 = try Connection(path: base.path, mode: .readWrite)
        try db0.execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE")
        try db0.close()
        try FileManager.default.copyItem(atPath: base.path, toPath: sourcePath)
        let x = base.sessionIDs[0], y = base.sessionIDs[1], n = "new-session-0001"
        let source = try Connection(path: sourcePath, mode: .readWrite)
        try source.execute("PRAGMA foreign_keys=ON")
        try source.execute("UPDATE sessions SET name = 'renamed in archive', updated_at = 4102444800000 WHERE id = ?", [.text(x)])
        try source.execute("UPDATE sessions SET name = 'older in archive', updated_at = 1000000000 WHERE id = ?", [.text(y)])
        try source.execute("UPDATE background_jobs SET response = 'archive response' WHERE session_id = ?", [.text(x)])
        try source.execute("""
            INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at)
            SELECT ?, 'brand new', project_directory, project_hash, 1700000000000, 1700000000000 FROM sessions WHERE id = ?
            """, [.text(n), .text(x)])
        try source.execute("INSERT INTO background_jobs (id, session_id, prompt, status, created_at) VALUES ('new-job', ?, 'p', 'completed', 1700000000)", [.text(n)])
        try source.execute("INSERT INTO task_description_history (session_id, description, created_at) VALUES (?, 'first task', 1700000000000)", [.text(n)])
        try source.close()
        let t = try Connection(path: base.path, mode: .readWrite)
        try t.execute("INSERT INTO background_jobs (id, session_id, prompt, status, created_at) VALUES ('target-only-job', ?, 'p', 'completed', 1700000000)", [.text(x)])
        try t.close()
        let archive = try #require(try runExport(sourcePath, into: dir, name: "source.tar.zst").archivePath)
        return Scenario(dir: dir, target: base.path, archive: archive, x: x, y: y, n: n)
    }

    @Test(arguments: ConflictPolicy.allCases)
    func settlesSessionsInBothByThePolicyAndNeverDeletes(policy: ConflictPolicy) throws {
        let s = try scenario()
        let before = try counts(s.target)
        let triggersBefore = try Connection(path: s.target, mode: .readOnly).triggers(on: ["terminal_sessions"]).map(\.sql)
        #expect(triggersBefore.count == 1)
        let report = try Importer().run(mergeOptions(s.archive, into: s.target, policy: policy))
        let merge = try #require(report.merge)
        let after = try counts(s.target)
        for (table, rows) in before { #expect(after[table]! >= rows, "\(table) lost rows") }
        for (table, inserted) in merge.rowsInserted { #expect(after[table]! == before[table]! + inserted, "\(table)") }

        #expect(merge.sessionsAdded == [s.n])
        #expect(after["sessions"] == before["sessions"]! + 1)
        let xName = try value(s.target, "SELECT name FROM sessions WHERE id = ?", [.text(s.x)]).string
        let yName = try value(s.target, "SELECT name FROM sessions WHERE id = ?", [.text(s.y)]).string
        switch policy {
        case .skip:
            #expect(xName != "renamed in archive" && yName != "older in archive")
            #expect(merge.sessionsUpdated == [])
        case .replace:
            #expect(xName == "renamed in archive" && yName == "older in archive")
        case .newer:
            #expect(xName == "renamed in archive" && yName != "older in archive")
            #expect(merge.sessionsUpdated == [s.x])
        }
        // Rows about to be overwritten are saved first; a merge that only adds saves nothing.
        if policy == .skip {
            #expect(report.safetyArchive == nil)
        } else {
            let safety = try #require(report.safetyArchive)
            #expect(try Verifier().verify(safety).problems == [])
        }
        // A replaced session keeps the target's own jobs.
        #expect(try value(s.target, "SELECT count(*) FROM background_jobs WHERE id = ?", [.text(s.targetOnlyJob)]).int64 == 1)
        #expect(try value(s.target, "PRAGMA integrity_check").string == "ok")
        let db = try Connection(path: s.target, mode: .readOnly)
        #expect(try db.rows("PRAGMA foreign_key_check").isEmpty)
        // The target's trigger (found by its table, whatever its name) is back exactly as it was.
        #expect(try db.triggers(on: ["terminal_sessions"]).map(\.sql) == triggersBefore)
        try db.close()
        withExtendedLifetime(s.dir) {}
    }

    /// `--session`: only the named sessions come in, with their jobs; the others in the archive stay out,
    /// and a name the archive lacks is 66 with nothing changed.
    @Test func onlyTheChosenSessionsComeIn() throws {
        let s = try scenario()
        let before = try counts(s.target)
        var options = mergeOptions(s.archive, into: s.target, policy: .replace)
        options.sessions = [String(s.n.prefix(12))]  // a unique prefix names its session
        let merge = try #require(try Importer().run(options).merge)
        #expect(merge.sessionsAdded == [s.n])
        #expect(merge.sessionsUpdated == [] && merge.sessionsSkipped == [])
        #expect(try value(s.target, "SELECT count(*) FROM background_jobs WHERE id = 'new-job'").int64 == 1)
        // X and Y, which `replace` would take from the archive, are untouched.
        #expect(try value(s.target, "SELECT name FROM sessions WHERE id = ?", [.text(s.x)]).string != "renamed in archive")
        #expect(try value(s.target, "SELECT name FROM sessions WHERE id = ?", [.text(s.y)]).string != "older in archive")
        #expect(try counts(s.target)["sessions"] == before["sessions"]! + 1)

        let bytes = try Data(contentsOf: URL(fileURLWithPath: s.target))
        options.sessions = [s.x, "no-such-session"]
        let error = #expect(throws: BackupError.self) { try Importer().run(options) }
        #expect(error?.code == .noInput)
        #expect(error?.message.contains("no-such-session") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.target)) == bytes)
        withExtendedLifetime(s.dir) {}
    }

    @Test func mergingTwiceAddsNothingTheSecondTime() throws {
        let s = try scenario()
        _ = try Importer().run(mergeOptions(s.archive, into: s.target, policy: .replace))
        let once = try counts(s.target)
        let again = try #require(try Importer().run(mergeOptions(s.archive, into: s.target, policy: .replace)).merge)
        #expect(try counts(s.target) == once)
        #expect(again.rowsInserted.values.allSatisfy { $0 == 0 })
        withExtendedLifetime(s.dir) {}
    }

    @Test func terminalSessionsKeepTheirOwnUpdatedAt() throws {
        let s = try scenario()
        let archived = dir(s).file("archived.db")
        try ArchiveFixture.extractDatabase(s.archive, to: archived)
        let expected = try Connection(path: archived, mode: .readOnly).rows("SELECT id, updated_at FROM terminal_sessions ORDER BY id")
        _ = try Importer().run(mergeOptions(s.archive, into: s.target, policy: .replace))
        let db = try Connection(path: s.target, mode: .readOnly)
        for row in expected {
            #expect(try db.scalar("SELECT updated_at FROM terminal_sessions WHERE id = ?", [row[0]]) == row[1])
        }
        try db.close()
    }

    func dir(_ s: Scenario) -> TemporaryDirectory { s.dir }

    @Test func dryRunChangesNothing() throws {
        let s = try scenario()
        let bytes = try fileBytes(s.target)
        let report = try #require(try Importer().run(mergeOptions(s.archive, into: s.target, dryRun: true)).merge)
        #expect(report.sessionsAdded == [s.n])
        #expect(try fileBytes(s.target) == bytes)
        withExtendedLifetime(s.dir) {}
    }

    @Test func remapRewritesPathsAndRecomputesHashes() throws {
        let dir = TemporaryDirectory("remap")
        let path = dir.file("src.db")
        let db = try Connection(path: path, mode: .readWriteCreate)
        try db.execute(try SchemaCatalog.currentSQL)
        try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES ('s1', 'n', '/Users/ana/work/project', ?, 1, 1)",
                       [.text(ProjectHash.of("/Users/ana/work/project"))])
        try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES ('s2', 'n', '/Users/ana/workshop', ?, 1, 1)",
                       [.text(ProjectHash.of("/Users/ana/workshop"))])
        try db.execute("INSERT INTO project_system_prompts (project_hash, task_type, system_prompt) VALUES (?, 'implementation_plan', 'p')",
                       [.text(ProjectHash.of("/Users/ana/work/project"))])
        try db.execute("INSERT INTO background_jobs (id, session_id, prompt) VALUES ('j1', 's1', 'p')")
        try db.execute("INSERT INTO terminal_sessions (id, job_id, session_id, working_directory) VALUES ('t1', 'j1', 'abc', '/Users/ana/work/project/sub')")
        try db.close()
        let archive = try #require(try runExport(path, into: dir).archivePath)
        let target = dir.file("target.db")
        let empty = try Connection(path: target, mode: .readWriteCreate)
        try empty.execute(try SchemaCatalog.currentSQL)
        try empty.close()
        let report = try #require(try Importer().run(mergeOptions(archive, into: target, remaps: [PathRemap(old: "/Users/ana/work/", new: "/home/user")])).merge)
        #expect(report.remapped == ["/Users/ana/work/project": "/home/user/project"])
        #expect(try value(target, "SELECT project_hash FROM sessions WHERE id = 's1'").string == "46f6c2d18bd53fd116a0629c255b163d")
        #expect(try value(target, "SELECT project_directory FROM sessions WHERE id = 's2'").string == "/Users/ana/workshop") // not a whole component
        #expect(try value(target, "SELECT count(*) FROM project_system_prompts WHERE project_hash = '46f6c2d18bd53fd116a0629c255b163d'").int64 == 1)
        #expect(try value(target, "SELECT working_directory FROM terminal_sessions WHERE id = 't1'").string == "/home/user/project/sub")
    }

    @Test func anOldArchiveMergesIntoACurrentDatabase() throws {
        let dir = TemporaryDirectory("versions")
        let old = try Fixtures.database(in: dir, name: "old.db", version: SchemaCatalog.v1_0_0, bytes: 300_000, seed: 41)
        let current = try Fixtures.database(in: dir, name: "current.db", bytes: 300_000, seed: 42)
        let archive = try #require(try runExport(old.path, into: dir).archivePath)
        let before = try counts(current.path)
        let report = try Importer().run(mergeOptions(archive, into: current.path))
        #expect(report.migrations.contains("terminal_sessions_upgrade"))
        #expect(try counts(current.path)["sessions"] == before["sessions"]! + Int64(old.sessionIDs.count))
        #expect(try value(current.path, "SELECT count(*) FROM task_description_history WHERE device_id <> lower(device_id)").int64 == 0)
    }

    @Test func aCurrentArchiveIntoAnUpgraded10xDatabaseListsWhatItsRulesRefuse() throws {
        let dir = TemporaryDirectory("versions")
        let upgraded = try Fixtures.database(in: dir, name: "upgraded.db", version: SchemaCatalog.upgradedFrom1_0_0, bytes: 200_000, seed: 43)
        let source = dir.file("current.db")
        let db = try Connection(path: source, mode: .readWriteCreate)
        try db.execute(try SchemaCatalog.currentSQL)
        try db.execute("INSERT INTO sessions (id, name, project_directory, project_hash, created_at, updated_at) VALUES ('s1', 'n', '/p', 'h', 1, 1)")
        try db.execute("INSERT INTO background_jobs (id, session_id, prompt) VALUES ('j1', 's1', 'p'), ('j2', 's1', 'p')")
        try db.execute("INSERT INTO terminal_sessions (id, job_id, session_id, status) VALUES ('ok-terminal', 'j1', 'aaa', 'running'), ('new-status', 'j2', 'bbb', 'restored')")
        try db.close()
        let archive = try #require(try runExport(source, into: dir).archivePath)
        let bytes = try fileBytes(upgraded.path)
        let refused = #expect(throws: BackupError.self) { try Importer().run(mergeOptions(archive, into: upgraded.path)) }
        #expect(refused?.code == .dataError)
        #expect(refused?.message.contains("terminal_sessions new-status") == true)
        #expect(try fileBytes(upgraded.path) == bytes)

        let report = try #require(try Importer().run(mergeOptions(archive, into: upgraded.path, skipInvalid: true)).merge)
        #expect(report.invalidRowsSkipped.count == 1)
        #expect(try value(upgraded.path, "SELECT count(*) FROM terminal_sessions WHERE id IN ('ok-terminal', 'new-status')").int64 == 1)
        #expect(try value(upgraded.path, "SELECT count(*) FROM background_jobs WHERE id IN ('j1', 'j2')").int64 == 2)
    }
}
