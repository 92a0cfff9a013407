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
