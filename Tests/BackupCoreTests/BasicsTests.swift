@testable import BackupCore
import BackupTestSupport
import Foundation
import Testing

@Suite struct AgeAndTimestampTests {
    @Test(arguments: [("90d", Int64(90 * 86_400)), ("12h", 43_200), ("2w", 1_209_600), ("30m", 1800), ("45s", 45), (" 7D ", 604_800)])
    func parsesAges(text: String, seconds: Int64) throws {
        #expect(try Age(parsing: text).seconds == seconds)
    }

    @Test(arguments: ["", "d", "7", "7y", "-3d", "1.5d", "99999999999999w"])
    func rejectsBadAges(text: String) {
        let error = #expect(throws: BackupError.self) { try Age(parsing: text) }
        #expect(error?.code == .usage)
    }

    @Test func recognisesMilliseconds() {
        #expect(Timestamp.seconds(1_700_000_000) == 1_700_000_000)
        #expect(Timestamp.seconds(1_700_000_000_123) == 1_700_000_000)
        #expect(Timestamp.compact(Date(timeIntervalSince1970: 1_700_000_000)) == "20231114T221320Z")
        #expect(Timestamp.iso8601(seconds: 1_700_000_000) == "2023-11-14T22:13:20Z")
    }
}

@Suite struct DatabaseLocatorTests {
    @Test func explicitPathWinsThenEnvironmentThenDataFolders() throws {
        let dir = TemporaryDirectory("locate")
        let explicit = dir.file("explicit.db")
        let fromEnv = dir.file("env.db")
        // Not empty: an empty file is refused (see InputCheckTests).
        for path in [explicit, fromEnv] { _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8)) }
        let xdg = dir.file("xdg")
        try FileManager.default.createDirectory(atPath: xdg + "/com.plantocode", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: xdg + "/com.plantocode/appdata.db", contents: Data("x".utf8))

        var locator = DatabaseLocator(environment: ["HOME": dir.path, "PLANTOCODE_DB": fromEnv, "XDG_DATA_HOME": xdg])
        #expect(try locator.locate(explicit: explicit) == explicit)
        #expect(try locator.locate(explicit: nil) == fromEnv)
        locator.environment["PLANTOCODE_DB"] = nil
        #expect(try locator.locate(explicit: nil) == xdg + "/com.plantocode/appdata.db")
        // plantocode comes before com.plantocode
        try FileManager.default.createDirectory(atPath: xdg + "/plantocode", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: xdg + "/plantocode/appdata.db", contents: Data("x".utf8))
        #expect(try locator.locate(explicit: nil) == xdg + "/plantocode/appdata.db")
    }

    @Test func homeLocalShareWithoutXDG() throws {
        let dir = TemporaryDirectory("locate")
        let locator = DatabaseLocator(environment: ["HOME": dir.path])
        #expect(locator.defaultCandidates.first == dir.path + "/.local/share/plantocode/appdata.db")
        let error = #expect(throws: BackupError.self) { try locator.locate(explicit: nil) }
        #expect(error?.code == .noInput)
        #expect(error?.message.contains("--db") == true)
    }

    @Test func missingExplicitPathIsNoInput() {
        let error = #expect(throws: BackupError.self) { try DatabaseLocator(environment: [:]).locate(explicit: "/nope/appdata.db") }
        #expect(error?.code == .noInput)
        #expect(error?.message.contains("/nope/appdata.db") == true)
    }
}
