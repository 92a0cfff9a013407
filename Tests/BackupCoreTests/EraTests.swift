@testable import BackupCore
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import PlanToCodeSchema
import Testing

/// Databases as each historical version of the app created them (SPEC.md, "Schema eras"), and the
/// faults real databases carry: every one exports, verifies, restores and merges.
@Suite struct EraTests {
    static let alwaysThere: Set = ["sessions", "background_jobs", "key_value_store"]

    @Test(arguments: SchemaCatalog.eras)
    func everyEraExportsVerifiesRestoresAndMerges(era: SchemaCatalog.Era) throws {
        let dir = TemporaryDirectory("era")
        let source = try Fixtures.database(in: dir, name: "era.db", bytes: 150_000, seed: 5, era: era)
        let sourceTables = Set(try counts(source.path).keys)
        // The generator writes exactly the era's table set.
        #expect(sourceTables == Self.alwaysThere.union(era.tables))

        let archive = try #require(try runExport(source.path, into: dir).archivePath)
        #expect(try Verifier().verify(archive).problems == [])

        // Restore: today's schema around the era's data; dropped tables and columns carried untouched.
        let restored = dir.file("restored.db")
        let report = try Importer().run(importOptions(archive, into: restored))
        #expect(report.sessionCount == source.sessionIDs.count)
        #expect(era.isCurrent == report.migrations.isEmpty, "\(report.migrations)")
        let current = try currentColumns(in: dir)
        for (table, columns) in current {
            let found = Set(try TableDigest.columns(of: restored, table: table))
            #expect(columns.isSubset(of: found), "\(table) lacks \(columns.subtracting(found))")
        }
        let before = try TableDigest.digests(of: source.path), after = try TableDigest.digests(of: restored)
        for table in sourceTables where current[table] == nil {
            #expect(after[table] == before[table], "the dropped table \(table) changed")
        }
        for column in try TableDigest.columns(of: source.path, table: "sessions") {
            #expect(try TableDigest.digest(of: source.path, table: "sessions", columns: ["id", "\"\(column)\""])
                    == TableDigest.digest(of: restored, table: "sessions", columns: ["id", "\"\(column)\""]), "sessions.\(column)")
        }
        #expect(try value(restored, "PRAGMA integrity_check").string == "ok")
        #expect(try Connection(path: restored, mode: .readOnly).triggers(on: ["terminal_sessions"]).count == 1)

        // Merge into a current database: every session comes in; what today's schema lacks is named.
        let target = try Fixtures.database(in: dir, name: "target.db", bytes: 150_000, seed: 6)
        let merged = try #require(try Importer().run(mergeOptions(archive, into: target.path)).merge)
        #expect(merged.sessionsAdded.count == source.sessionIDs.count)
        for table in sourceTables where current[table] == nil {
            #expect(merged.tablesNotMerged.contains(table), "\(table) not reported")
        }
        if era.sessionsForm == .regex {
            #expect(merged.columnsNotMerged.contains("sessions.title_regex"))
        } else {
            #expect(merged.columnsNotMerged == [])
        }
        #expect(try value(target.path, "SELECT count(*) FROM pragma_foreign_key_check").int64 == 0)
        withExtendedLifetime(dir) {}
    }

    @Test func orphansAreDeclaredVerifiedRestoredAsTheyWereAndLeftOutOfMerges() throws {
        let dir = TemporaryDirectory("orphans")
        let source = try Fixtures.database(in: dir, name: "orphans.db", bytes: 200_000, seed: 8, orphans: 3)
        let result = try runExport(source.path, into: dir)
        let archive = try #require(result.archivePath)
        let declared = try #require(result.manifest?.foreignKeyViolations)
        #expect(declared.contains(.init(table: "background_jobs", parent: "sessions", rows: 3)))
        #expect(result.manifest?.foreignKeyWarning != nil)
        #expect(try Verifier().verify(archive).problems == [])

        let restored = dir.file("restored.db")
        let report = try Importer().run(importOptions(archive, into: restored))
        #expect(report.warnings.count == 1)
        #expect(try TableDigest.digests(of: restored) == TableDigest.digests(of: source.path))

        let target = try Fixtures.database(in: dir, name: "target.db", bytes: 150_000, seed: 9)
        let merge = try Importer().run(mergeOptions(archive, into: target.path))
        let summary = try #require(merge.merge)
        let orphanRows = declared.reduce(0) { $0 + $1.rows }
        #expect(summary.orphansLeftOut.count == Int(orphanRows))
        for job in source.orphanJobIDs {
            #expect(summary.orphansLeftOut.contains { $0.hasPrefix("background_jobs \(job):") })
            #expect(try value(target.path, "SELECT count(*) FROM background_jobs WHERE id = ?", [.text(job)]).int64 == 0)
        }
        #expect(merge.warnings.count == 1)
        #expect(try value(target.path, "SELECT count(*) FROM pragma_foreign_key_check").int64 == 0)

        // An archive whose manifest does not declare them is not what was exported.
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.foreignKeyViolations = nil
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let undeclared = dir.file("undeclared.tar.zst")
        try ArchiveFixture.write(entries, to: undeclared)
        let problems = try Verifier().verify(undeclared).problems
        #expect(problems.count == 1 && problems[0].contains("does not declare"), "\(problems)")
    }

    /// Merging an archive of what the target already holds changes nothing, not even the schema cookie.
    @Test(arguments: ConflictPolicy.allCases)
    func aMergeThatBringsNothingNewLeavesTheTargetByteIdentical(policy: ConflictPolicy) throws {
        let dir = TemporaryDirectory("noop")
        let target = try Fixtures.database(in: dir, name: "target.db", bytes: 200_000, seed: 10, rollbackJournal: true)
        let archive = try #require(try runExport(target.path, into: dir).archivePath)
        let bytes = try fileBytes(target.path)
        let listing = dir.contents()
        let report = try Importer().run(mergeOptions(archive, into: target.path, policy: policy))
        #expect(try fileBytes(target.path) == bytes)
        #expect(report.safetyArchive == nil)
        #expect(report.merge?.sessionsAdded == [] && report.merge?.sessionsUpdated == [])
        #expect(dir.contents() == listing)
    }

    /// `--on-conflict replace` writes the archive's terminal rows as they are: the target's trigger,
    /// whatever its name, never rewrites `updated_at`, and comes back byte-identical.
    @Test(arguments: [SchemaCatalog.current, SchemaCatalog.upgradedFrom1_0_0])
    func replaceNeverFiresTheTargetsTrigger(targetVersion: SchemaCatalog.AppVersion) throws {
        let dir = TemporaryDirectory("trigger")
        let target = try Fixtures.database(in: dir, name: "target.db", version: targetVersion, bytes: 300_000, seed: 11)
        let triggers = try Connection(path: target.path, mode: .readOnly).triggers(on: ["terminal_sessions"])
        #expect(triggers.count == 1)
        let edited = dir.file("edited.db")
        try FileManager.default.copyItem(atPath: target.path, toPath: edited)
        let db = try Connection(path: edited, mode: .readWrite)
        let terminal = try #require(try db.scalar("SELECT id FROM terminal_sessions ORDER BY id LIMIT 1").string)
        try db.inTransaction {
            try db.withTriggersSetAside {
                try db.execute("UPDATE terminal_sessions SET title = 'changed', updated_at = 42 WHERE id = ?", [.text(terminal)])
                try db.execute("UPDATE sessions SET updated_at = updated_at + 1 WHERE id = (SELECT session_id FROM background_jobs WHERE id = (SELECT job_id FROM terminal_sessions WHERE id = ?))", [.text(terminal)])
            }
            return .commit
        }
        try db.close()
        let archive = try #require(try runExport(edited, into: dir).archivePath)
        let report = try #require(try Importer().run(mergeOptions(archive, into: target.path, policy: .replace)).merge)
        #expect(report.rowsUpdated["terminal_sessions", default: 0] >= 1)
        #expect(try value(target.path, "SELECT title || ':' || updated_at FROM terminal_sessions WHERE id = ?", [.text(terminal)]).string == "changed:42")
        #expect(try Connection(path: target.path, mode: .readOnly).triggers(on: ["terminal_sessions"]).map(\.sql) == triggers.map(\.sql))
    }

    /// A table missing a column PlanToCode cannot do without is refused with 65 naming it, and nothing is written.
    @Test func aMissingRequiredColumnIsADataErrorNamingIt() throws {
        let dir = TemporaryDirectory("hostile")
        let path = dir.file("hostile.db")
        let db = try Connection(path: path, mode: .readWriteCreate)
        try db.execute("""
            CREATE TABLE sessions (id TEXT PRIMARY KEY, project_directory TEXT NOT NULL, project_hash TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            CREATE TABLE background_jobs (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), prompt TEXT NOT NULL);
            CREATE TABLE key_value_store (key TEXT PRIMARY KEY, value TEXT, updated_at INTEGER NOT NULL);
            INSERT INTO sessions VALUES ('s', '/p', 'h', 1, 1);
            """)
        try db.close()
        let archive = try #require(try runExport(path, into: dir).archivePath)
        let target = dir.file("target.db")
        #expect {
            try Importer().run(importOptions(archive, into: target))
        } throws: { error in
            let error = error as? BackupError
            return error?.code == .dataError && error?.message.contains("sessions.name") == true
        }
        let leftBehind = FileManager.default.fileExists(atPath: target) ? try fileBytes(target).count : 0
        #expect(leftBehind == 0)
    }
}
