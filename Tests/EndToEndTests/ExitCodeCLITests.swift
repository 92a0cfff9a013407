import BackupCore
import BackupModel
import BackupTestSupport
import Foundation
import Testing

/// Exit codes and error lines of inputs the tool must refuse (issue 9, part 3): each case checks the
/// code, the one line on stderr, nothing on stdout, and that nothing was left behind.
@Suite struct ExitCodeCLITests {
    /// The only line on stderr, which must start with `prefix`.
    func errorLine(_ result: ProcessResult, prefix: String = "ptc-backup: error: ") -> String {
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1 && lines.first?.hasPrefix(prefix) == true, "stderr: \(result.stderr)")
        return lines.first.map(String.init) ?? ""
    }

    @Test func remapWithARelativePathIsUsage() throws {
        let dir = TemporaryDirectory("exit-remap")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)
        let before = dir.contents()
        for remap in ["/home/ana/code=code", "code=/home/ana/code"] {
            let result = try ptc(["import", archive, "--db", dir.file("target.db"), "--remap", remap])
            #expect(result.status == 64, "\(remap): \(result.stderr)")
            #expect(result.stdout == "")
            #expect(result.stderr.hasPrefix("Error: invalid --remap '\(remap)': "), "\(result.stderr)")
            #expect(result.stderr.contains("is a relative path"), "\(result.stderr)")
        }
        #expect(dir.contents() == before)
    }

    /// `--db` naming a folder: 66 for export, migrate and both kinds of import; the folder stays empty.
    @Test func databaseThatIsAFolderIsNoInput() throws {
        let dir = TemporaryDirectory("exit-folder")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)
        let folder = dir.file("data")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let runs: [[String]] = [
            ["export", "--db", folder, "--output", out + "/"],
            ["export", "--db", folder, "--session", fixture.sessionIDs[0], "--output", out + "/"],
            ["migrate", "--db", folder],
            ["import", archive, "--db", folder, "--mode", "restore", "--force"],
            ["import", archive, "--db", folder, "--mode", "merge"],
        ]
        for arguments in runs {
            let result = try ptc(arguments)
            #expect(result.status == 66, "\(arguments): \(result.stderr)")
            #expect(result.stdout == "")
            #expect(errorLine(result).contains("\(folder) is a folder"), "\(arguments)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
    }

    /// A 0-byte `--db`: 65 for export, migrate and a merge, which leave it 0 bytes with no companion
    /// files; a restore fills it.
    @Test func emptyDatabaseFileIsDataErrorExceptForRestore() throws {
        let dir = TemporaryDirectory("exit-empty")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let archive = dir.file("a.tar.zst")
        #expect(try ptc(["export", "--db", fixture.path, "--output", archive, "--quiet"]).status == 0)
        let empty = dir.file("empty.db")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let before = dir.contents()
        for arguments in [["export", "--db", empty, "--output", dir.path + "/"], ["migrate", "--db", empty],
                          ["import", archive, "--db", empty, "--mode", "merge"]] {
            let result = try ptc(arguments)
            #expect(result.status == 65, "\(arguments): \(result.stderr)")
            #expect(result.stdout == "")
            #expect(errorLine(result).contains("\(empty) is an empty file, not a PlanToCode database"), "\(arguments)")
        }
        #expect(dir.contents() == before)
        #expect(FileManager.default.contents(atPath: empty) == Data())

        let restore = try ptc(["import", archive, "--db", empty, "--mode", "restore"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TableDigest.digests(of: empty) == TableDigest.digests(of: fixture.path))
    }

    /// A new archive in a folder the user may not write to: 73 before any work, and nothing written.
    /// Root ignores permissions, so as root the tool runs as `nobody` (see ``NonRoot``).
    @Test(.enabled(if: NonRoot.available, "needs setpriv to drop root"))
    func outputInAReadOnlyFolderIsCantCreate() throws {
        let dir = TemporaryDirectory("exit-readonly-out")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let readOnly = dir.file("read-only")
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: false)
        try NonRoot.share(dir.path, fixture.path)
        chmod(readOnly, 0o555)
        for output in [readOnly + "/archive.tar.zst", readOnly + "/", readOnly] {
            let result = try NonRoot.ptc(["export", "--db", fixture.path, "--output", output])
            #expect(result.status == 73, "\(output): \(result.stderr)")
            #expect(result.stdout == "")
            #expect(errorLine(result).contains("the folder \(readOnly) is not writable"), "\(output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: readOnly) == [])
    }

    /// `--output` under a path whose parent is a regular file (ENOTDIR): 73 naming it.
    @Test func outputUnderARegularFileIsCantCreate() throws {
        let dir = TemporaryDirectory("exit-notdir-out")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let file = dir.file("plain-file")
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let before = dir.contents()
        let result = try ptc(["export", "--db", fixture.path, "--output", file + "/archive.tar.zst"])
        #expect(result.status == 73, "\(result.stderr)")
        #expect(result.stdout == "")
        #expect(errorLine(result).contains("\(file) is a file, not a folder"))
        #expect(dir.contents() == before)
    }

    /// A WAL database with no `-wal`, in a folder the user can only read: exported (full and partial)
    /// through `immutable=1`, with nothing created beside it, and the archives hold the database.
    @Test(.enabled(if: NonRoot.available, "needs setpriv to drop root"))
    func walDatabaseWithoutWalInAReadOnlyFolderExports() throws {
        let dir = TemporaryDirectory("exit-readonly-wal")
        let data = dir.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        let fixture = try Fixtures.database(in: dir, name: "data/appdata.db", bytes: 200_000)
        for suffix in ["-wal", "-shm"] { unlink(fixture.path + suffix) }
        #expect(try header(of: fixture.path)[18...19] == [2, 2], "the fixture is not in WAL mode")
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try NonRoot.share(dir.path, fixture.path)
        chmod(out, 0o777)
        chmod(data, 0o555)
        defer { chmod(data, 0o755) }

        for (name, selection) in [("full.tar.zst", [String]()), ("partial.tar.zst", ["--session", fixture.sessionIDs[0]])] {
            let result = try NonRoot.ptc(["export", "--db", fixture.path, "--output", out + "/" + name, "--quiet"] + selection)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(result.stderr == "" && result.stdout == "")
            #expect(try ptc(["verify", out + "/" + name, "--quiet"]).status == 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data) == ["appdata.db"])
        try ArchiveFixture.extractDatabase(out + "/full.tar.zst", to: dir.file("restored.db"))
        #expect(try TableDigest.digests(of: dir.file("restored.db")) == TableDigest.digests(of: fixture.path))
    }

    /// A WAL database whose `-wal` holds commits, in a folder the user can only read: readable while its
    /// `-shm` is there; without one, 77 saying why, and nothing written anywhere.
    @Test(.enabled(if: NonRoot.available, "needs setpriv to drop root"))
    func walDatabaseWithWalInAReadOnlyFolderNeedsItsShm() throws {
        let dir = TemporaryDirectory("exit-readonly-wal2")
        let data = dir.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        let fixture = try Fixtures.database(in: dir, name: "data/appdata.db", bytes: 200_000, walOnlyCommits: 3)
        #expect(FileSystemProbe.size(fixture.path + "-wal") > 0, "the fixture has no commits in its -wal")
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try NonRoot.share(dir.path, fixture.path, fixture.path + "-wal", fixture.path + "-shm")
        chmod(out, 0o777)
        chmod(data, 0o555)
        defer { chmod(data, 0o755) }

        let withShm = try NonRoot.ptc(["export", "--db", fixture.path, "--output", out + "/with-shm.tar.zst", "--json"])
        #expect(withShm.status == 0, "\(withShm.stderr)")
        #expect(try jsonResult(ExportReport.self, withShm.stdout).sessionCount == fixture.sessionIDs.count)

        chmod(data, 0o755)
        unlink(fixture.path + "-shm")
        chmod(data, 0o555)
        let before = try FileManager.default.contentsOfDirectory(atPath: data).sorted()
        let result = try NonRoot.ptc(["export", "--db", fixture.path, "--output", out + "/"])
        #expect(result.status == 77, "\(result.stderr)")
        #expect(result.stdout == "")
        #expect(errorLine(result).contains("\(fixture.path)-wal exists but the folder \(data) is read-only"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).sorted() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["with-shm.tar.zst"])
    }

    func header(of path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TestFailure("cannot read \(path)") }
        defer { try? handle.close() }
        return Array(handle.readData(ofLength: 100))
    }
}

/// Two exports of the same second into one folder: the second is numbered, and `list` shows both.
@Suite struct SameSecondCLITests {
    @Test func theSecondExportOfASecondIsNumberedAndListed() throws {
        let dir = TemporaryDirectory("same-second-cli")
        let fixture = try Fixtures.database(in: dir, bytes: 100_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        // The host part of the name, from a first export elsewhere.
        let first = try ptc(["export", "--db", fixture.path, "--output", dir.path + "/", "--json"])
        let firstName = (try #require(try jsonResult(ExportReport.self, first.stdout).archive) as NSString).lastPathComponent
        let host = try #require(ArchiveName(parsing: firstName)).host
        // Every plain name of the next minute is taken, as by exports of those seconds.
        let now = Date().timeIntervalSince1970.rounded(.down)
        var squatters: [String] = []
        for second in 0..<60 {
            let name = ArchiveName(host: host, time: compact(now + Double(second)), kind: "full").fileName
            squatters.append(name)
            try FileManager.default.copyItem(atPath: dir.path + "/" + firstName, toPath: out + "/" + name)
        }
        let result = try ptc(["export", "--db", fixture.path, "--output", out + "/", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let archive = try #require(try jsonResult(ExportReport.self, result.stdout).archive)
        let name = try #require(ArchiveName(parsing: (archive as NSString).lastPathComponent))
        #expect(name.sequence == 2 && name.kind == "full" && name.host == host, "\(archive)")
        #expect(squatters.contains(ArchiveName(host: name.host, time: name.time, kind: name.kind).fileName))

        let list = try ptc(["list", out, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try jsonResult(ListReport.self, list.stdout)
        #expect(listed.archives.count == 61)
        let item = try #require(listed.archives.first { $0.name == name.fileName })
        #expect(item.kind == .full && item.problem == nil && item.sessionCount == fixture.sessionIDs.count)
        let text = try ptc(["list", out])
        #expect(text.stdout.contains(name.fileName))
    }

    func compact(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

enum FileSystemProbe {
    static func size(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int64) ?? 0
    }
}

/// Runs `ptc-backup` as a user permissions apply to: as itself when not root, else as `nobody` through
/// `setpriv` (root bypasses file modes, so a read-only folder is only read-only to someone else).
enum NonRoot {
    static let uid: UInt32 = 65534

    static var available: Bool {
        getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
    }

    static func ptc(_ arguments: [String]) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
        env["HOME"] = "/nonexistent"
        guard getuid() == 0 else { return try BackupTestSupport.ptc(arguments, environment: env) }
        let result = try Binary.run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", Binary.ptcBackup] + arguments,
                                    environment: env, currentDirectory: "/")
        if result.status == 126 || result.status == 127 || result.stderr.hasPrefix("setpriv:") {
            throw TestFailure("cannot run \(Binary.ptcBackup) as uid \(uid): \(result.stderr)")
        }
        return result
    }

    /// Lets the other user into `folder` (a test's private 0700 folder) and read `files`.
    static func share(_ folder: String, _ files: String...) throws {
        guard chmod(folder, 0o755) == 0 else { throw TestFailure("chmod \(folder): \(String(cString: strerror(errno)))") }
        for file in files { chmod(file, 0o644) }
    }
}
