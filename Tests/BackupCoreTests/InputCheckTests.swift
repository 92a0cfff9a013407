@testable import BackupCore
import BackupTestSupport
import Foundation
import Testing

/// What the operations refuse before any work, and with which code.
@Suite struct InputCheckTests {
    @Test(arguments: ["code=/Users/ana/code", "/home/ana/code=code", "./a=/b", "/a=~/code", "/a=../b", "C:code=/b"])
    func remapWithARelativePathIsAUsageError(_ text: String) throws {
        let error = try #require(throws: BackupError.self) { try PathRemap(parsing: text) }
        #expect(error.code == .usage)
        #expect(error.message.contains("is a relative path"), "\(error.message)")
    }

    @Test(arguments: ["/home/ana/code=/Users/ana/code", "/=/srv", #"C:\Users\ana=/home/ana"#, "/home/ana=D:/work", #"\\server\share=/mnt/share"#])
    func remapWithAbsolutePathsParses(_ text: String) throws {
        let remap = try PathRemap(parsing: text)
        #expect(!remap.old.isEmpty && !remap.new.isEmpty)
    }
}

@Suite struct DatabaseFileCheckTests {
    @Test func aFolderIsNoInputForEveryUse() throws {
        let dir = TemporaryDirectory("locate-folder")
        let locator = DatabaseLocator(environment: ["PLANTOCODE_DB": dir.path])
        for attempt in [{ try locator.locate(explicit: dir.path) }, { try locator.locate(explicit: nil) },
                        { try locator.locateTarget(explicit: dir.path) }, { try locator.locateTarget(explicit: dir.path, merging: true) }] {
            let error = try #require(throws: BackupError.self) { _ = try attempt() }
            #expect(error.code == .noInput)
            #expect(error.message.contains("\(dir.path) is a folder"), "\(error.message)")
        }
    }

    @Test func anEmptyFileIsNotADatabaseExceptToRestoreInto() throws {
        let dir = TemporaryDirectory("locate-empty")
        let empty = dir.file("empty.db")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let locator = DatabaseLocator(environment: [:])
        let error = try #require(throws: BackupError.self) { try locator.locate(explicit: empty) }
        #expect(error.code == .dataError)
        #expect(error.message.contains("\(empty) is an empty file, not a PlanToCode database"), "\(error.message)")
        let merging = try #require(throws: BackupError.self) { try locator.locateTarget(explicit: empty, merging: true) }
        #expect(merging.code == .dataError)
        #expect(merging.message.contains("empty file, not a PlanToCode database"), "\(merging.message)")
        #expect(try locator.locateTarget(explicit: empty) == empty)
    }
}
