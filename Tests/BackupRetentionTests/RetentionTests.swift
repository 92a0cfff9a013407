import BackupModel
import BackupRetention
import Foundation
import Testing

/// One row of a hand-worked table: an archive (a bare `yyyyMMddTHHmmssZ` means host `laptop`, kind
/// `full`; anything else is a whole file name) and what the policy must say of it: its reasons, or `-`
/// for removal. Rows are written in the order ``Retention/decide(_:policy:)`` returns them: groups by
/// host then kind, newest first inside a group.
private typealias Row = (archive: String, expected: String)

private func fileName(_ spec: String) -> String {
    spec.hasPrefix("plantocode-") ? spec : "plantocode-laptop-\(spec)-full.tar.zst"
}

private func check(_ policy: RetentionPolicy, _ rows: [Row], sourceLocation: SourceLocation = #_sourceLocation) throws {
    // Fed in reverse and rotated, so nothing depends on the input's order.
    var names = try rows.map { try #require(ArchiveName(parsing: fileName($0.archive)), "\($0.archive)", sourceLocation: sourceLocation) }
    names.reverse()
    names = Array(names.dropFirst(names.count / 2) + names.prefix(names.count / 2))
    let decisions = Retention.decide(names, policy: policy)
    let got = decisions.map { ($0.fileName, $0.keep ? $0.reasons.joined(separator: ", ") : "-") }
    let want = rows.map { (fileName($0.archive), $0.expected) }
    #expect(got.map(\.0) == want.map(\.0), "order", sourceLocation: sourceLocation)
    for ((name, reasons), (_, expected)) in zip(got, want) {
        #expect(reasons == expected, "\(name)", sourceLocation: sourceLocation)
    }
    for decision in decisions { #expect(decision.keep == !decision.reasons.isEmpty, sourceLocation: sourceLocation) }
}

@Suite struct RetentionRuleTests {
    @Test func keepLastTakesTheNewest() throws {
        try check(RetentionPolicy(last: 2), [
            ("20260310T120000Z", "last 1"),
            ("20260309T120000Z", "last 2"),
            ("20260308T120000Z", "-"),
            ("20250101T000000Z", "-"),
        ])
    }

    /// Two archives on one day: the later one is the day's; days without archives do not use up the count.
    @Test func dailySkipsGapsAndKeepsTheNewestOfADay() throws {
        try check(RetentionPolicy(daily: 3), [
            ("20260310T230000Z", "daily 1"),
            ("20260310T080000Z", "-"),
            ("20260308T120000Z", "daily 2"),
            ("20260301T000000Z", "daily 3"),
            ("20260228T235959Z", "-"),
        ])
    }

    @Test func hourlyBucketsAreUTCHours() throws {
        try check(RetentionPolicy(hourly: 2), [
            ("20260310T105959Z", "hourly 1"),
            ("20260310T100000Z", "-"),
            ("20260310T095959Z", "hourly 2"),
            ("20260310T070000Z", "-"),
        ])
    }

    /// Same-second archives (numbered `-2`, `-3`) and an encrypted twin share one bucket: the highest
    /// number is the newest, then the `.age` name before the plain one.
    @Test func tiesInOneSecond() throws {
        try check(RetentionPolicy(last: 2, daily: 1), [
            ("plantocode-laptop-20260310T120000Z-full-3.tar.zst", "last 1, daily 1"),
            ("plantocode-laptop-20260310T120000Z-full-2.tar.zst.age", "last 2"),
            ("plantocode-laptop-20260310T120000Z-full.tar.zst.age", "-"),
            ("plantocode-laptop-20260310T120000Z-full.tar.zst", "-"),
            ("20260309T120000Z", "-"),
        ])
    }

    /// 2026 starts on a Thursday, so it has an ISO week 53 that runs from Monday 2026-12-28 to Sunday
    /// 2027-01-03: weekly puts 2026-12-31 and 2027-01-01 in one bucket, yearly and monthly do not.
    @Test func isoWeek53AndTheTurnOfTheYear() throws {
        let names = ["20270104T010000Z", "20270103T230000Z", "20270101T100000Z", "20261231T100000Z", "20261228T000000Z",
                     "20261227T235959Z"]
        try check(RetentionPolicy(weekly: 3), zip(names, ["weekly 1", "weekly 2", "-", "-", "-", "weekly 3"]).map { $0 })
        try check(RetentionPolicy(yearly: 2), zip(names, ["yearly 1", "-", "-", "yearly 2", "-", "-"]).map { $0 })
        try check(RetentionPolicy(monthly: 5), zip(names, ["monthly 1", "-", "-", "monthly 2", "-", "-"]).map { $0 })
        try check(RetentionPolicy(weekly: 2, yearly: 2),
                  zip(names, ["weekly 1, yearly 1", "weekly 2", "-", "yearly 2", "-", "-"]).map { $0 })
        try check(RetentionPolicy(daily: 4),
                  zip(names, ["daily 1", "daily 2", "daily 3", "daily 4", "-", "-"]).map { $0 })
    }

    @Test func monthlyWithGapsAndYearlyAcrossALeapYear() throws {
        try check(RetentionPolicy(monthly: 2), [
            ("20260615T000000Z", "monthly 1"),
            ("20260331T235959Z", "monthly 2"),
            ("20260301T000000Z", "-"),
            ("20260131T000000Z", "-"),
        ])
        try check(RetentionPolicy(daily: 1, yearly: 3), [
            ("20250101T000000Z", "daily 1, yearly 1"),
            ("20241231T235959Z", "yearly 2"),
            ("20240229T120000Z", "-"),
            ("20230101T000000Z", "yearly 3"),
            ("20220101T000000Z", "-"),
        ])
    }

    /// `--keep-within` counts back from the group's newest archive, not from now, and strictly: an archive
    /// exactly AGE older than the newest is outside.
    @Test func keepWithinIsRelativeToTheNewestArchive() throws {
        let week = RetentionPolicy.Within(seconds: 7 * 86_400, text: "7d")
        try check(RetentionPolicy(within: week), [
            ("20200110T000000Z", "within 7d"),
            ("20200103T000001Z", "within 7d"),
            ("20200103T000000Z", "-"),
            ("20191201T000000Z", "-"),
        ])
    }

    @Test func anyRuleKeeps() throws {
        try check(RetentionPolicy(last: 1, daily: 2, within: .init(seconds: 36 * 3600, text: "36h")), [
            ("20260310T120000Z", "last 1, daily 1, within 36h"),
            ("20260310T010000Z", "within 36h"),
            ("20260309T010000Z", "daily 2, within 36h"),
            ("20260308T235959Z", "-"),
            ("20260307T000000Z", "-"),
        ])
    }

    /// Each host and kind is a group of its own, decided on its own (the host may hold `-`).
    @Test func hostsAndKindsAreSeparateGroups() throws {
        try check(RetentionPolicy(last: 1, weekly: 1), [
            ("20260310T120000Z", "last 1, weekly 1"),
            ("20260303T120000Z", "-"),
            ("plantocode-laptop-20260311T000000Z-partial.tar.zst", "last 1, weekly 1"),
            ("plantocode-laptop-20260301T000000Z-partial.tar.zst", "-"),
            ("plantocode-my-old-pc-20240105T000000Z-full.tar.zst", "last 1, weekly 1"),
            ("plantocode-my-old-pc-20240101T000000Z-full.tar.zst", "-"),
        ])
    }

    @Test func anEmptyPolicyKeepsEverythingAndSaysSo() throws {
        #expect(RetentionPolicy().isEmpty)
        #expect(!RetentionPolicy(within: .init(seconds: 0, text: "0d")).isEmpty)
        #expect(RetentionPolicy(daily: 7, within: .init(seconds: 86_400, text: "1d")).description == "--keep-daily 7 --keep-within 1d")
        let names = try ["20260310T120000Z", "20200310T120000Z"].map { try #require(ArchiveName(parsing: fileName($0))) }
        let decisions = Retention.decide(names, policy: RetentionPolicy())
        #expect(decisions.count == 2)
        #expect(decisions.allSatisfy { $0.keep && $0.reasons.isEmpty })
    }
}

@Suite struct RetentionPlanTests {
    let names = [
        "plantocode-laptop-20260310T120000Z-full.tar.zst",
        "plantocode-laptop-20260309T120000Z-full.tar.zst",
        "plantocode-laptop-20260310T120000Z-cleanup.tar.zst",
        "plantocode-laptop-20260309T120000Z-cleanup.tar.zst",
        "plantocode-desktop-20260309T120000Z-partial.tar.zst",
        "plantocode-desktop-20260308T120000Z-partial.tar.zst",
        "notes.txt",
        "plantocode-laptop-20260229T120000Z-full.tar.zst",
        "plantocode-laptop-20260310T120000Z-full.tar",
    ]

    @Test func cleanupArchivesArePrunedOnlyWhenNamed() {
        let plan = Retention.plan(fileNames: names, policy: RetentionPolicy(last: 1))
        #expect(plan.decisions.map(\.fileName) == [names[4], names[5], names[0], names[1]])
        #expect(plan.removed.map(\.fileName) == [names[5], names[1]])
        #expect(plan.ignored == [
            .init(name: "notes.txt", reason: "not an archive name"),
            .init(name: names[7], reason: "not an archive name"),
            .init(name: names[3], reason: "kind cleanup: pruned only with --kind cleanup"),
            .init(name: names[2], reason: "kind cleanup: pruned only with --kind cleanup"),
            .init(name: names[8], reason: "not an archive name"),
        ])

        let cleanup = Retention.plan(fileNames: names, policy: RetentionPolicy(last: 1), selection: RetentionSelection(kinds: ["cleanup"]))
        #expect(cleanup.decisions.map(\.fileName) == [names[2], names[3]])
        #expect(cleanup.removed.map(\.fileName) == [names[3]])
        #expect(cleanup.ignored.filter { $0.reason == "kind full not selected" }.count == 2)
    }

    @Test func aHostLimitsThePrune() {
        let plan = Retention.plan(fileNames: names, policy: RetentionPolicy(last: 1),
                                  selection: RetentionSelection(kinds: ["partial", "full"], host: "desktop"))
        #expect(plan.decisions.map(\.fileName) == [names[4], names[5]])
        #expect(plan.ignored.contains(.init(name: names[0], reason: "host laptop, not desktop")))
    }
}

@Suite struct CalendarTests {
    /// Hand-worked ISO 8601 weeks at the turn of years.
    @Test(arguments: [
        ("20261231T100000Z", 2026, 53), ("20270101T000000Z", 2026, 53), ("20270103T235959Z", 2026, 53),
        ("20270104T000000Z", 2027, 1), ("20241230T000000Z", 2025, 1), ("20241229T235959Z", 2024, 52),
        ("20210103T000000Z", 2020, 53), ("20210104T000000Z", 2021, 1), ("20081229T000000Z", 2009, 1),
        ("20100103T000000Z", 2009, 53), ("19700101T000000Z", 1970, 1), ("20260311T000000Z", 2026, 11),
    ])
    func isoWeeks(_ time: String, year: Int, week: Int) throws {
        let seconds = try #require(UTCTime(compact: time)).seconds
        #expect(Bucket.isoWeekDate(seconds) == (year, week))
    }

    /// Every day of 1969–2041 against Foundation's ISO 8601 calendar and date formatting in UTC.
    @Test func agreesWithFoundation() {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var seconds: Int64 = -365 * 86_400 + 4321
        while seconds < 72 * 365 * 86_400 {
            let date = Date(timeIntervalSince1970: Double(seconds))
            let components = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            let ours = Bucket.isoWeekDate(seconds)
            #expect(ours.year == components.yearForWeekOfYear && ours.week == components.weekOfYear, "\(date)")
            let time = UTCTime(seconds: seconds)
            #expect(time.compact == formatter.string(from: date))
            #expect(UTCTime(compact: time.compact)?.seconds == seconds)
            seconds += 86_400
        }
    }

    @Test(arguments: ["20260229T000000Z", "20261301T000000Z", "20260001T000000Z", "20260100T000000Z", "20260431T000000Z",
                      "20260101T240000Z", "20260101T006000Z", "20260101T000060Z", "2026010lT000000Z", "20260101T000000"])
    func notATime(_ text: String) {
        #expect(UTCTime(compact: text) == nil)
        #expect(ArchiveName(parsing: "plantocode-h-\(text)-full.tar.zst") == nil)
    }

    @Test func leapDaysAreTimes() throws {
        #expect(try #require(UTCTime(compact: "20240229T235959Z")).seconds == 1_709_251_199)
        #expect(try #require(UTCTime(compact: "20000229T000000Z")).seconds == 951_782_400)
        #expect(UTCTime(compact: "21000229T000000Z") == nil)
        #expect(try #require(ArchiveName(parsing: "plantocode-h-20240229T120000Z-full.tar.zst")).seconds == 1_709_208_000)
    }
}
