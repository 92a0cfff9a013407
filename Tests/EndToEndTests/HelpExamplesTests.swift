import BackupTestSupport
import Foundation
import Testing

/// The words users read first: every command's help fits 80 columns, shows at least two examples, and
/// every example (and every `ptc-backup …` line of the README's fenced blocks) works when pasted, in
/// order, in a folder set up as `ptc-backup --help` says: a copy of the sample database (tour.db), a
/// folder backups/, a WebDAV server for `localhost:8080` (rclone, on a free port put in its place) and
/// the config file shown in `ptc-backup help run`.
///
/// An example expected to fail says so at its end, `# exit N`; every other must exit 0.
@Suite(.serialized) struct HelpExamplesTests {
    static func help(_ path: [String]) throws -> String {
        let result = try ptc(["help"] + path, extra: ["COLUMNS": "80"])
        guard result.status == 0 else { throw TestFailure("ptc-backup help \(path.joined(separator: " ")): \(result.status) \(result.stderr)") }
        return result.stdout
    }

    /// The example lines of a help text: the indented `ptc-backup …` lines of its Examples block.
    static func examples(in help: String) -> [String] {
        var inBlock = false
        var lines: [String] = []
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == "Examples:" { inBlock = true; continue }
            guard inBlock else { continue }
            if line.hasPrefix("  ptc-backup ") { lines.append(line.trimmingCharacters(in: .whitespaces)) } else { inBlock = false }
        }
        return lines
    }

    /// The README's fenced `ptc-backup …` lines (a leading `$ ` is dropped).
    static func readmeExamples() throws -> [String] {
        let readme = try String(contentsOfFile: (Binary.packageRoot as NSString).appendingPathComponent("README.md"), encoding: .utf8)
        var fenced = false
        var lines: [String] = []
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { fenced.toggle(); continue }
            var text = String(line)
            if text.hasPrefix("$ ") { text.removeFirst(2) }
            if fenced && text.hasPrefix("ptc-backup ") { lines.append(text) }
        }
        return lines
    }

    /// The config file of `ptc-backup help run`: the indented block after "Example config.toml".
    static func exampleConfig() throws -> String {
        let lines = try help(["run"]).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("Example config.toml") }) else {
            throw TestFailure("ptc-backup help run shows no example config.toml")
        }
        let block = lines[(start + 1)...].prefix { $0.isEmpty || $0.hasPrefix("  ") }
        return block.map { $0.hasPrefix("  ") ? String($0.dropFirst(2)) : String($0) }.joined(separator: "\n") + "\n"
    }

    /// The columns a line takes on a terminal.
    static func width(_ line: Substring) -> Int {
        line.reduce(0) { total, character in
            guard let scalar = character.unicodeScalars.first else { return total }
            let wide = (0x1100...0x115F).contains(scalar.value) || (0x2E80...0xA4CF).contains(scalar.value)
                || (0xAC00...0xD7A3).contains(scalar.value) || (0xFF00...0xFF60).contains(scalar.value)
            return total + (wide ? 2 : 1)
        }
    }

    @Test func everyCommandsHelpFits80Columns() throws {
        for path in [[]] + (try CommandTree.paths()) {
            let text = try Self.help(path)
            for line in text.split(separator: "\n") {
                #expect(Self.width(line) <= 80, "ptc-backup help \(path.joined(separator: " ")): \(line)")
            }
            let usage = try ptc(path + ["--help"], extra: ["COLUMNS": "80"])
            #expect(usage.stdout == text, "--help and help differ for \(path)")
        }
    }

    @Test func everyCommandShowsAtLeastTwoExamples() throws {
        for path in [[]] + (try CommandTree.paths()) {
            let text = try Self.help(path)
            let examples = Self.examples(in: text)
            #expect(examples.count >= 2, "ptc-backup help \(path.joined(separator: " ")) shows \(examples.count) examples")
            // Each example on one line: the block holds nothing else (a wrapped example would).
            let block = text.components(separatedBy: "Examples:\n").dropFirst().first?.components(separatedBy: "\n\n").first ?? ""
            #expect(block.split(separator: "\n").allSatisfy { $0.hasPrefix("  ptc-backup ") }, "\(path): \(block)")
        }
    }

    @Test func everyExampleWorksOnTheSampleDatabase() throws {
        var examples: [(from: String, line: String)] = []
        for path in [[]] + (try CommandTree.paths()) {
            let name = (["ptc-backup"] + path).joined(separator: " ")
            examples += Self.examples(in: try Self.help(path)).map { ("help of \(name)", $0) }
        }
        #expect(examples.count >= 30)
        try Self.run(examples)
    }

    /// The README's lines on their own, in a folder set up the same way, where tour.db also stands for the
    /// app's database (PLANTOCODE_DB): the reference section's lines name none.
    @Test func everyReadmeExampleWorksOnTheSampleDatabase() throws {
        let examples = try Self.readmeExamples().map { (from: "README.md", line: $0) }
        #expect(!examples.isEmpty)
        try Self.run(examples, tourIsTheAppDatabase: true)
    }

    /// Runs `examples` in order, each with bash in a new folder set up as `ptc-backup --help` says.
    static func run(_ examples: [(from: String, line: String)], tourIsTheAppDatabase: Bool = false) throws {
        let dir = TemporaryDirectory("examples")
        try FileManager.default.copyItem(atPath: (Binary.packageRoot as NSString).appendingPathComponent("Samples/appdata.db"),
                                         toPath: dir.file("tour.db"))
        try FileManager.default.createDirectory(atPath: dir.file("backups"), withIntermediateDirectories: false)
        let server = try RcloneWebDAV(authenticate: false)
        let address = "127.0.0.1:\(server.port)"
        let configFolder = dir.file(".config/ptc-backup")
        try FileManager.default.createDirectory(atPath: configFolder, withIntermediateDirectories: true)
        let config = try Self.exampleConfig().replacingOccurrences(of: "localhost:8080", with: address)
        #expect(config.contains("[profile.nightly]"))
        try config.write(toFile: configFolder + "/config.toml", atomically: true, encoding: .utf8)
        chmod(configFolder + "/config.toml", 0o600)

        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = dir.path
        environment["XDG_CONFIG_HOME"] = dir.file(".config")
        environment["XDG_DATA_HOME"] = dir.file(".local/share")
        // Help examples name their database; never a real one.
        environment["PLANTOCODE_DB"] = tourIsTheAppDatabase ? dir.file("tour.db") : "/nonexistent/appdata.db"
        environment["PATH"] = (Binary.ptcBackup as NSString).deletingLastPathComponent + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        for name in ["PTC_BACKUP_CONFIG", "PTC_WEBDAV_USER", "PTC_WEBDAV_PASSWORD", "AWS_ACCESS_KEY_ID", "COLUMNS"] {
            environment[name] = nil
        }
        for (from, line) in examples {
            let command = line.replacingOccurrences(of: "localhost:8080", with: address)
            let expected = line.firstMatch(of: /#\s*exit (\d+)\s*$/).flatMap { Int32($0.1) } ?? 0
            let result = try Binary.run("/bin/bash", ["-c", command], environment: environment, currentDirectory: dir.path)
            #expect(result.status == expected, "\(from): \(line)\n→ exit \(result.status), expected \(expected)\n\(result.stderr)")
        }
        withExtendedLifetime(server) {}
    }
}
