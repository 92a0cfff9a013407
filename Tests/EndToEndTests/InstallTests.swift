import BackupModel
import BackupSQLite
import BackupTestSupport
import Foundation
import Testing

/// `Scripts/install` into a temporary prefix (the debug build, installed once per test process), then
/// what a user gets from it: the binary, a man page per command that `man` renders without a warning,
/// completions each shell finds, and `Scripts/uninstall` leaving the prefix as it was.
@Suite(.serialized) struct InstallTests {
    /// A prefix with the tool installed (shared by the tests that only read it).
    static let installed: Result<TemporaryDirectory, any Error> = Result { try install() }

    /// Installs into a new prefix that holds two files of its own (they must survive an uninstall);
    /// returns it and what it held before.
    static func install() throws -> TemporaryDirectory {
        let prefix = TemporaryDirectory("install")
        try FileManager.default.createDirectory(atPath: prefix.file("share/man/man1"), withIntermediateDirectories: true)
        try "mine\n".write(toFile: prefix.file("share/man/man1/other.1"), atomically: true, encoding: .utf8)
        try "mine\n".write(toFile: prefix.file("notes.txt"), atomically: true, encoding: .utf8)
        let result = try Binary.run("/bin/bash", [script("install"), "--prefix", prefix.path, "--debug"], timeout: 900)
        guard result.status == 0 else { throw TestFailure("Scripts/install failed (\(result.status)): \(result.stderr)") }
        return prefix
    }

    static func script(_ name: String) -> String { (Binary.packageRoot as NSString).appendingPathComponent("Scripts/\(name)") }

    /// Every path under `root`, relative, folders ending in `/`, sorted.
    static func tree(_ root: String) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var paths: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent(path), isDirectory: &isDirectory)
            paths.append(isDirectory.boolValue ? path + "/" : path)
        }
        return paths.sorted()
    }

    @Test func binaryAndVersion() throws {
        let prefix = try Self.installed.get()
        let version = try Binary.run(prefix.file("bin/ptc-backup"), ["--version"])
        #expect(version.status == 0)
        let lines = version.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.wholeMatch(of: /ptc-backup \d+\.\d+\.\d+/) != nil, "\(lines)")
        #expect(lines.dropFirst().first == "archive format \(Manifest.currentFormatVersion)")
        let libraries = lines.dropFirst(2).first ?? ""
        #expect(libraries.hasPrefix("SQLite \(Connection.libraryVersion), libarchive "), "\(libraries)")
        #expect(libraries.contains(", zstd ") && libraries.contains(", libcurl "))
        // The versions loaded are those of the system's libraries (what curl and zstd on PATH report).
        if let curl = try? Binary.run("/usr/bin/curl", ["--version"]).stdout,
           let token = curl.split(separator: " ").first(where: { $0.hasPrefix("libcurl/") }) {
            #expect(libraries.contains("libcurl " + token.dropFirst("libcurl/".count)))
        }
    }

    @Test func aManPagePerCommandRendersWithoutWarnings() throws {
        let prefix = try Self.installed.get()
        let commands = try CommandTree.paths(of: prefix.file("bin/ptc-backup"))
        #expect(commands.count >= 13)
        for command in [[]] + commands {
            let page = prefix.file("share/man/man1/" + (["ptc-backup"] + command).joined(separator: ".") + ".1")
            #expect(FileManager.default.fileExists(atPath: page), "no page for \(command)")
            let man = try Binary.run("/usr/bin/man", ["--warnings", "-l", page], environment: ["MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"])
            #expect(man.status == 0, "\(page): \(man.stderr)")
            #expect(man.stderr == "", "\(page): \(man.stderr)")
            #expect(man.stdout.contains("ptc-backup"))
        }
    }

    @Test func completionsWhereEachShellLooks() throws {
        let prefix = try Self.installed.get()
        let bash = prefix.file("share/bash-completion/completions/ptc-backup")
        let complete = try Binary.run("/bin/bash", ["-c", "source '\(bash)' && complete -p ptc-backup"])
        #expect(complete.status == 0, "\(complete.stderr)")
        #expect(complete.stdout.contains("ptc-backup"))
        let zsh = try String(contentsOfFile: prefix.file("share/zsh/site-functions/_ptc-backup"), encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef ptc-backup"))
        let fish = try String(contentsOfFile: prefix.file("share/fish/vendor_completions.d/ptc-backup.fish"), encoding: .utf8)
        #expect(fish.contains("complete -c 'ptc-backup'") || fish.contains("complete -c ptc-backup"))
    }

    /// Its own prefix: uninstall removes exactly what install wrote, and the folders it made.
    @Test func uninstallLeavesThePrefixAsBefore() throws {
        let prefix = try Self.install()
        let manifest = try String(contentsOfFile: prefix.file("share/ptc-backup/installed-files"), encoding: .utf8)
        #expect(manifest.contains(prefix.file("bin/ptc-backup")))
        let result = try Binary.run("/bin/bash", [Self.script("uninstall"), "--prefix", prefix.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.tree(prefix.path) == ["notes.txt", "share/", "share/man/", "share/man/man1/", "share/man/man1/other.1"])
        // Not installed any more: uninstall says so (66).
        #expect(try Binary.run("/bin/bash", [Self.script("uninstall"), "--prefix", prefix.path]).status == 66)
    }
}
