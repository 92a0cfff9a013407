import BackupCore
import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// Text from a database, a manifest or a file name never reaches the terminal with control characters:
/// every command's text output and error line shows them as `\u{..}` escapes; `--json` keeps them exact.
@Suite struct ControlCharacterTests {
    /// ESC with a colour, OSC window title ending in BEL, a newline that would fake a line, C1 CSI, DEL.
    static let hostile = "evil\u{1B}[31mred\u{1B}]0;title\u{07}\nptc-backup: error: fake\u{9B}2J\u{7F}"
    static let escaped = #"evil\u{1B}[31mred\u{1B}]0;title\u{07}\u{0A}ptc-backup: error: fake\u{9B}2J\u{7F}"#

    /// No control character but the newline ending each line.
    func expectClean(_ result: ProcessResult, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (stream, text) in [("stdout", result.stdout), ("stderr", result.stderr)] {
            let bad = text.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
            #expect(bad.isEmpty, "\(label) \(stream) carries \(bad.map { String($0.value, radix: 16) }): \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func textOutputEscapesControlCharactersAndJSONKeepsThem() throws {
        let dir = TemporaryDirectory("control")
        let fixture = try Fixtures.database(in: dir, bytes: 150_000)
        let project = "/home/ana/" + Self.hostile
        do {
            let db = try Connection(path: fixture.path, mode: .readWrite)
            try db.execute("UPDATE sessions SET name = ?, project_directory = ? WHERE id = ?",
                           [.text(Self.hostile), .text(project), .text(fixture.sessionIDs[0])])
            try db.close()
        }
        let out = dir.file("out-\u{1B}[1m")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)

        let export = try ptc(["export", "--db", fixture.path, "--output", out + "/"])
        #expect(export.status == 0, "\(export.stderr)")
        expectClean(export, "export")
        #expect(export.stdout.contains(#"out-\u{1B}[1m/plantocode-"#))
        let archive = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first.map { out + "/" + $0 })
        // The same archive under a file name with control characters, for list.
        let strange = out + "/x\u{1B}[2J\u{85}.tar.zst"
        try FileManager.default.copyItem(atPath: archive, toPath: strange)

        let inspect = try ptc(["inspect", archive])
        #expect(inspect.status == 0)
        expectClean(inspect, "inspect")
        #expect(inspect.stdout.contains(String(Self.escaped.prefix(29))), "\(inspect.stdout)")  // the name, cut to its column
        #expect(inspect.stdout.contains("/home/ana/" + Self.escaped))

        let json = try ptc(["inspect", archive, "--json"])
        let manifest = try jsonResult(InspectReport.self, json.stdout).manifest
        #expect(manifest.sessions.contains { $0.name == Self.hostile && $0.projectDirectory == project })

        let list = try ptc(["list", out])
        #expect(list.status == 0)
        expectClean(list, "list")
        #expect(list.stdout.contains(#"x\u{1B}[2J\u{85}.tar.zst"#))

        let verify = try ptc(["verify", strange])
        #expect(verify.status == 0)
        expectClean(verify, "verify")
        #expect(verify.stdout.hasPrefix(#"OK "# + out.replacingOccurrences(of: "\u{1B}", with: #"\u{1B}"#)))

        _ = try Fixtures.database(in: dir, name: "target.db", bytes: 100_000, seed: 3)
        let merge = try ptc(["import", strange, "--db", dir.file("target.db"), "--remap", "/home/ana=/srv/\u{1B}[5m"])
        #expect(merge.status == 0, "\(merge.stderr)")
        expectClean(merge, "import")
        #expect(merge.stdout.contains(#"remapped /home/ana/evil\u{1B}[31m"#), "\(merge.stdout)")
        #expect(merge.stdout.contains(#"-> /srv/\u{1B}[5m/evil\u{1B}[31m"#), "\(merge.stdout)")

        let failure = try ptc(["verify", dir.file("missing\u{1B}[8m\u{9B}.tar.zst")])
        #expect(failure.status == 66)
        expectClean(failure, "error line")
        #expect(failure.stderr.hasPrefix("ptc-backup: error: ") && failure.stderr.contains(#"missing\u{1B}[8m\u{9B}.tar.zst"#))
        #expect(failure.stderr.split(separator: "\n").count == 1)
    }

    /// A hand-built manifest with control characters in its host and session: inspect escapes them.
    @Test func aHostileManifestIsShownEscaped() throws {
        let dir = TemporaryDirectory("control-manifest")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)
        var entries = try ArchiveFixture.entries(of: archive)
        var manifest = try JSONDecoder().decode(Manifest.self, from: Data(entries[0].bytes))
        manifest.source.host = Self.hostile
        manifest.source.appVersion = "1.2\u{1B}c"
        entries[0].bytes = Array(try JSONEncoder().encode(manifest))
        let hostile = dir.file("hostile.tar.zst")
        try ArchiveFixture.write(entries, to: hostile)

        let inspect = try ptc(["inspect", hostile])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        expectClean(inspect, "inspect")
        #expect(inspect.stdout.contains("on " + Self.escaped))
        #expect(inspect.stdout.contains(#"app 1.2\u{1B}c"#))
    }
}
