@testable import BackupCore
import BackupModel
import BackupTestSupport
import Foundation
import Testing

@Suite struct ArchiveNameTests {
    @Test func namesRoundTripFromTheirEnd() throws {
        let cases: [(String, ArchiveName)] = [
            ("plantocode-laptop-20231114T221320Z-full.tar.zst", ArchiveName(host: "laptop", time: "20231114T221320Z", kind: "full")),
            ("plantocode-my-old-pc-20231114T221320Z-partial-2.tar.zst",
             ArchiveName(host: "my-old-pc", time: "20231114T221320Z", kind: "partial", sequence: 2)),
            ("plantocode-h-20231114T221320Z-cleanup-17.tar.zst.age",
             ArchiveName(host: "h", time: "20231114T221320Z", kind: "cleanup", sequence: 17, encrypted: true)),
            ("plantocode-full-20231114T221320Z-diff.tar.zst", ArchiveName(host: "full", time: "20231114T221320Z", kind: "diff")),
        ]
        for (text, name) in cases {
            #expect(ArchiveName(parsing: text) == name, "\(text)")
            #expect(name.fileName == text)
        }
    }

    @Test(arguments: ["plantocode-20231114T221320Z-full.tar.zst", "plantocode-h-2023-full.tar.zst", "plantocode-h-20231114T221320Z-other.tar.zst",
                      "plantocode-h-20231114T221320Z-full-1.tar.zst", "plantocode-h-20231114T221320Z-full-02.tar.zst",
                      "plantocode-h-20231114T221320Z-full.tar", "laptop.tar.zst", ".plantocode-h-20231114T221320Z-full.tar.zst.tmp-1-2"])
    func otherNamesAreNotArchiveNames(_ text: String) {
        #expect(ArchiveName(parsing: text) == nil)
    }
}

/// Exports of the same second into one folder (issue 9): numbered names, never a 73 after the work.
@Suite struct SameSecondExportTests {
    func options(_ database: String, into folder: String, session: String? = nil, packWhileCopying: Bool = true) -> ExportOptions {
        var options = ExportOptions()
        options.databasePath = database
        options.output = folder + "/"
        options.host = "laptop"
        options.now = Date(timeIntervalSince1970: 1_700_000_000)
        options.packWhileCopying = packWhileCopying
        if let session { options.selection = SessionSelection(sessionIDs: [session]) }
        return options
    }

    @Test func aTakenNameGetsTheNextNumber() throws {
        let dir = TemporaryDirectory("same-second")
        let fixture = try Fixtures.database(in: dir, bytes: 150_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        var names: [String] = []
        for _ in 0..<3 {
            let result = try Exporter().export(options(fixture.path, into: out))
            names.append((try #require(result.archivePath) as NSString).lastPathComponent)
        }
        #expect(names == ["plantocode-laptop-20231114T221320Z-full.tar.zst", "plantocode-laptop-20231114T221320Z-full-2.tar.zst",
                          "plantocode-laptop-20231114T221320Z-full-3.tar.zst"])
        for name in names { #expect(try Verifier().verify(out + "/" + name).problems == []) }

        let listed = try Lister().list(out)
        #expect(listed.archives.map(\.name) == names.reversed())
        #expect(listed.archives.allSatisfy { $0.kind == .full && $0.problem == nil })
    }

    /// Another process takes the name while the export runs (here: from the progress callback, between
    /// the check at the start and the link at the end): the archive is published under the next number,
    /// and the other file is left alone.
    @Test(arguments: [("full, streamed", false, true), ("full, packed after", false, false), ("partial", true, true)])
    func aNameTakenDuringTheExportIsSkippedAtPublishing(_ label: String, partial: Bool, packWhileCopying: Bool) throws {
        let dir = TemporaryDirectory("same-second-race")
        let fixture = try Fixtures.database(in: dir, bytes: 150_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let kind = partial ? "partial" : "full"
        let taken = out + "/plantocode-laptop-20231114T221320Z-\(kind).tar.zst"
        let squatted = Locked(false)
        let exporter = Exporter(progress: { _ in
            squatted.withLock { done in
                guard !done else { return }
                done = FileManager.default.createFile(atPath: taken, contents: Data("someone else's".utf8))
            }
        })
        let result = try exporter.export(options(fixture.path, into: out, session: partial ? fixture.sessionIDs[0] : nil,
                                                 packWhileCopying: packWhileCopying))
        #expect(squatted.withLock { $0 }, "the progress callback never ran")
        #expect(result.archivePath == out + "/plantocode-laptop-20231114T221320Z-\(kind)-2.tar.zst", "\(label)")
        #expect(FileManager.default.contents(atPath: taken) == Data("someone else's".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted()
                == ["plantocode-laptop-20231114T221320Z-\(kind)-2.tar.zst", "plantocode-laptop-20231114T221320Z-\(kind).tar.zst"])
        #expect(try Verifier().verify(try #require(result.archivePath)).problems == [])
    }

    /// `--output FILE` taken during the export stays an error (73), and nothing of the export remains.
    @Test func anExplicitFileTakenDuringTheExportIsCantCreate() throws {
        let dir = TemporaryDirectory("same-second-explicit")
        let fixture = try Fixtures.database(in: dir, bytes: 150_000)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let target = out + "/mine.tar.zst"
        var explicit = options(fixture.path, into: out)
        explicit.output = target
        let exporter = Exporter(progress: { _ in
            if !FileManager.default.fileExists(atPath: target) {
                _ = FileManager.default.createFile(atPath: target, contents: Data("someone else's".utf8))
            }
        })
        let error = try #require(throws: BackupError.self) { try exporter.export(explicit) }
        #expect(error.code == .cantCreate)
        #expect(error.message == "cannot write \(target): a file of that name already exists")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["mine.tar.zst"])
        #expect(FileManager.default.contents(atPath: target) == Data("someone else's".utf8))
    }
}
