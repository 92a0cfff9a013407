import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// Runs the built `ptc-backup` and checks stdout, stderr and the exit status separately.
@Suite struct CLITests {
    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    @Test func exportInspectVerifyListWithJSON() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000)
        let out = dir.file("archives")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)

        let export = try ptc(["export", "--db", fixture.path, "--output", out + "/", "--json"])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stderr == "")
        let report = try decode(ExportReport.self, export.stdout)
        let archive = try #require(report.archive)
        #expect(report.schemaVersion == 1)
        #expect(report.kind == .full)
        #expect(report.sessions == fixture.sessionIDs.count)
        #expect((archive as NSString).lastPathComponent.hasPrefix("plantocode-"))
        #expect(archive.hasSuffix("-full.tar.zst"))

        let inspect = try ptc(["inspect", archive, "--json"])
        #expect(inspect.status == 0)
        let inspected = try decode(InspectReport.self, inspect.stdout)
        #expect(inspected.manifest.sessions.count == fixture.sessionIDs.count)

        let verify = try ptc(["verify", archive, "--json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(try decode(VerifyReport.self, verify.stdout).ok)

        let list = try ptc(["list", out, "--json"])
        #expect(list.status == 0)
        let listed = try decode(ListReport.self, list.stdout)
        #expect(listed.archives.map(\.name) == [(archive as NSString).lastPathComponent])
        #expect(listed.archives.first?.sessions == fixture.sessionIDs.count)

        let text = try ptc(["inspect", archive])
        #expect(text.stdout.contains("Sessions (\(fixture.sessionIDs.count)):"))
        let listText = try ptc(["list", out])
        #expect(listText.stdout.contains("full"))
    }

    @Test func databaseFromEnvironmentAndDefaultOutputFolder() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = fixture.path
        let result = try ptc(["export", "--quiet"], environment: env, cwd: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "" && result.stderr == "")
        #expect(dir.contents().contains { $0.hasPrefix("plantocode-") && $0.hasSuffix("-full.tar.zst") })
    }

    /// `--output new/folder/` (a folder by its trailing slash) is created, private (0700); a file name in a
    /// missing folder is still 73 (above).
    @Test func anOutputFolderNamedAsOneIsCreated() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let result = try ptc(["export", "--db", fixture.path, "--output", dir.file("new/backups") + "/", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("new/backups")).contains { $0.hasSuffix("-full.tar.zst") })
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("new/backups"))[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    /// A folder on this machine is a remote like any other: push (of `DIR/latest` too) creates it, the copy
    /// is private, a second push is a no-op, pull and list read it.
    @Test func aLocalFolderIsARemote() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        #expect(try ptc(["export", "--db", fixture.path, "--output", dir.file("backups") + "/", "--quiet"]).status == 0)
        let push = try ptc(["push", dir.file("backups/latest"), dir.file("offsite") + "/"])
        #expect(push.status == 0, "\(push.stderr)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("offsite")).first { $0.hasSuffix("-full.tar.zst") })
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("offsite/" + name))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try ptc(["push", dir.file("backups/latest"), "file://" + dir.file("offsite") + "/"])
        #expect(again.status == 0 && again.stdout.contains("Already there"), "\(again.stdout)\(again.stderr)")
        let pull = try ptc(["pull", dir.file("offsite/latest"), "--output", dir.file("got") + "/"])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("got/" + name))) == Data(contentsOf: URL(fileURLWithPath: dir.file("offsite/" + name))))
        #expect(try ptc(["list", dir.file("offsite")]).stdout.contains(name))
    }

    @Test func failuresGiveOneLineAndTheRightCode() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: dir.file("junk.db")))
        let cases: [([String], Int32, String)] = [
            (["export", "--db", dir.file("missing.db")], 66, "missing.db"),
            (["export", "--db", dir.file("junk.db"), "--output", dir.path], 65, "not an SQLite database"),
            (["export", "--db", fixture.path, "--session", "nope", "--output", dir.path], 66, "'nope'"),
            (["export", "--db", fixture.path, "--output", dir.file("no/such/dir/x.tar.zst")], 73, "does not exist"),
            (["export", "--db", fixture.path, "--level", "42"], 64, "--level"),
            (["export", "--db", fixture.path, "--older-than", "7y"], 64, "invalid age"),
            (["export", "--quiet", "--verbose"], 64, "--quiet"),
            (["export", "--no-such-flag"], 64, "no-such-flag"),
            (["verify", dir.file("missing.tar.zst")], 66, "missing.tar.zst"),
            (["verify", dir.file("junk.db")], 65, "junk.db"),
            (["list", dir.file("nowhere")], 66, "nowhere"),
        ]
        for (arguments, code, fragment) in cases {
            let result = try ptc(arguments)
            #expect(result.status == code, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
            #expect(result.stdout == "", "\(arguments)")
            if code != 64 {
                let lines = result.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].hasPrefix("ptc-backup: error: "), "\(arguments): \(result.stderr)")
            }
        }
        // Nothing was written by any of them.
        #expect(!dir.contents().contains { $0.hasSuffix(".tar.zst") || $0.hasPrefix(".") })
    }

    @Test func jsonErrorDocument() throws {
        let dir = TemporaryDirectory("cli")
        let result = try ptc(["verify", dir.file("missing.tar.zst"), "--json"])
        #expect(result.status == 66)
        let report = try decode(ErrorReport.self, result.stdout)
        #expect(report.exitCode == 66)
        #expect(report.command == "verify")
    }

    @Test func nothingToExportExitsZeroAndWritesNothing() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let result = try ptc(["export", "--db", fixture.path, "--project", "/nowhere", "--output", dir.path + "/", "--json"])
        #expect(result.status == 0)
        let report = try decode(ExportReport.self, result.stdout)
        #expect(report.archive == nil)
        #expect(report.message?.contains("nothing written") == true)
        #expect(!dir.contents().contains { $0.hasSuffix(".tar.zst") })
    }

    @Test func fullDiskIsIOErrorAndLeavesNoPartialArchive() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 2_000_000)
        // A file-size limit makes writes fail with EFBIG, as a full disk fails them with ENOSPC.
        let result = try Binary.run("/bin/sh", ["-c", "ulimit -f 512; exec \"$0\" \"$@\"", Binary.ptcBackup,
                                                "export", "--db", fixture.path, "--output", dir.file("out.tar.zst")])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("ptc-backup: error: "))
        #expect(dir.contents().filter { $0.contains("tar.zst") || $0.contains("snapshot") } == [])
    }

    @Test func killedAtAnyPointLeavesNothingUnderTheFinalName() throws {
        let dir = TemporaryDirectory("cli")
        let fixture = try Fixtures.database(in: dir, bytes: 12_000_000, maxTerminalLog: 2_000_000)
        let final = dir.file("out.tar.zst")
        // How long a whole export takes here.
        let started = Date()
        let full = try ptc(["export", "--db", fixture.path, "--output", final, "--quiet"])
        #expect(full.status == 0)
        let duration = Date().timeIntervalSince(started)
        try FileManager.default.removeItem(atPath: final)

        var killedBeforeEnd = 0
        for attempt in 0..<10 {
            let process = try Binary.start(Binary.ptcBackup, ["export", "--db", fixture.path, "--output", final, "--quiet"])
            usleep(useconds_t(duration * Double(attempt) / 10 * 1_000_000))
            process.kill(attempt.isMultiple(of: 2) ? SIGKILL : SIGTERM)
            let result = try process.wait()
            if result.status != 0 { killedBeforeEnd += 1 }
            if FileManager.default.fileExists(atPath: final) {
                // Published before the signal arrived: then it must be complete.
                let verify = try ptc(["verify", final, "--quiet"])
                #expect(verify.status == 0, "attempt \(attempt): a file under the final name fails verify: \(verify.stderr)")
                try FileManager.default.removeItem(atPath: final)
            }
            if attempt % 2 == 1 && result.status != 0 {
                // SIGTERM: the handler removes the temporary files.
                #expect(result.status == 128 + SIGTERM)
                #expect(!dir.contents().contains { $0.hasPrefix(".out.tar.zst") }, "attempt \(attempt): \(dir.contents())")
            }
            for leftover in dir.contents() where leftover.hasPrefix(".out.tar.zst") {
                try FileManager.default.removeItem(atPath: dir.file(leftover))
            }
        }
        #expect(killedBeforeEnd > 0)
        // The source is intact.
        let check = try Binary.run("/usr/bin/env", ["sqlite3", fixture.path, "PRAGMA integrity_check"])
        #expect(check.stdout == "ok\n")
    }

    @Test(arguments: ["export", "inspect", "verify", "list"])
    func helpExplainsWithAnExample(command: String) throws {
        let result = try ptc([command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"))
        #expect(result.stdout.contains("--json"))
        #expect(result.stdout.contains("--quiet"))
    }
}

@Suite struct SchemaTests {
    /// The manifest a real export writes validates against Schema/json/manifest.v1.json.
    @Test func manifestValidatesAgainstItsJSONSchema() throws {
        let dir = TemporaryDirectory("schema")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let export = try Binary.run(Binary.ptcBackup, ["export", "--db", fixture.path, "--session", fixture.sessionIDs[0],
                                                       "--output", dir.file("a.tar.zst"), "--quiet"])
        #expect(export.status == 0, "\(export.stderr)")
        let manifest = try #require(try ArchiveFixture.entries(of: dir.file("a.tar.zst")).first)
        try Data(manifest.bytes).write(to: URL(fileURLWithPath: dir.file("manifest.json")))
        let schema = (Binary.packageRoot as NSString).appendingPathComponent("Schema/json/manifest.v1.json")
        let check = try Binary.run("/usr/bin/env", ["python3", "-c", """
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
            print("valid")
            """, schema, dir.file("manifest.json")])
        #expect(check.stdout == "valid\n", "\(check.stderr)")
    }

    /// The `--json` documents of the commands validate against Schema/json/report.v1.json (one shape each).
    @Test func reportsValidateAgainstTheirJSONSchema() throws {
        let dir = TemporaryDirectory("report-schema")
        let fixture = try Fixtures.database(in: dir, bytes: 300_000, seed: 61)
        let env = ["XDG_CONFIG_HOME": dir.file("config"), "XDG_STATE_HOME": dir.file("state")]
        let commands: [[String]] = [
            ["export", "--db", fixture.path, "--output", dir.file("a.tar.zst"), "--json"],
            ["verify", dir.file("a.tar.zst"), "--json"],
            ["cleanup", "--db", fixture.path, "--dry-run", "--json"],
            ["prune", dir.path, "--keep-last", "5", "--dry-run", "--json"],
            ["schedule", "list", "--json"],
        ]
        let schema = (Binary.packageRoot as NSString).appendingPathComponent("Schema/json/report.v1.json")
        for (index, arguments) in commands.enumerated() {
            let result = try ptc(arguments, extra: env)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            let document = dir.file("report-\(index).json")
            try result.stdout.write(toFile: document, atomically: true, encoding: .utf8)
            let check = try Binary.run("/usr/bin/env", ["python3", "-c", """
                import json, sys, jsonschema
                jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
                print("valid")
                """, schema, document])
            #expect(check.stdout == "valid\n", "\(arguments): \(check.stderr.suffix(600))")
        }
    }

    /// The committed sample database is a current-schema PlanToCode database with every table.
    @Test func sampleDatabaseHasEveryTableOfTheCurrentSchema() throws {
        let sample = (Binary.packageRoot as NSString).appendingPathComponent("Samples/appdata.db")
        let dir = TemporaryDirectory("sample")
        try FileManager.default.copyItem(atPath: sample, toPath: dir.file("appdata.db"))
        let result = try Binary.run("/usr/bin/env", ["sqlite3", dir.file("appdata.db"),
            "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"])
        #expect(result.stdout.split(separator: "\n") == ["app_settings", "background_jobs", "db_diagnostic_logs", "error_logs",
            "file_selection_history", "key_value_store", "migrations", "project_system_prompts", "sessions",
            "task_description_history", "terminal_sessions"])
    }
}
