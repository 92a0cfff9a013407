import BackupModel

/// The keep-or-remove decision for one archive, with the rules that keep it.
public struct RetentionDecision: Sendable, Equatable {
    public var name: ArchiveName
    public var keep: Bool
    /// Why it stays, in rule order: `last 2`, `hourly 1`, `daily 3`, `weekly 1`, `monthly 1`, `yearly 1`,
    /// `within 30d` (the number is the bucket's place, 1 for the newest). Empty when it goes.
    public var reasons: [String]

    public init(name: ArchiveName, keep: Bool, reasons: [String]) {
        self.name = name
        self.keep = keep
        self.reasons = reasons
    }

    public var fileName: String { name.fileName }
}

/// What a prune would do to a folder's names: the decisions for the selected archives (grouped by
/// host and kind, each group newest first), and every other name with why it is left alone.
public struct RetentionPlan: Sendable, Equatable {
    public var decisions: [RetentionDecision]
    /// Names left alone: not an archive name, or outside the selection. (name, why)
    public var ignored: [Ignored]

    public struct Ignored: Sendable, Equatable {
        public var name: String
        public var reason: String

        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
    }

    public var kept: [RetentionDecision] { decisions.filter(\.keep) }
    public var removed: [RetentionDecision] { decisions.filter { !$0.keep } }
}

/// The prune policy of `restic forget`, over archive names, with no I/O: an archive's time is the UTC time
/// in its name; archives are grouped by host and kind and each group is decided on its own.
///
/// - `last N`: the N newest archives.
/// - `hourly/daily/weekly/monthly/yearly N`: going from the newest archive to the oldest, the first one met
///   in each bucket (UTC hour, day, ISO 8601 week, month, year) is kept, until N buckets have one. Buckets
///   without an archive do not count: after a gap the rule reaches further back.
/// - `within AGE`: every archive newer than the group's newest minus AGE (strictly; restic's rule), so a
///   machine that was off for a month does not lose its last backups.
/// - An archive kept by any rule stays. An empty policy keeps everything (`prune` refuses one).
///
/// Unlike restic 0.16+, a rule with counts left over does not also keep the group's oldest archive: the
/// rules are exactly those above.
public enum Retention {
    /// Plans a prune of a folder holding `fileNames`: names that are not archive names, and archives
    /// outside `selection`, are ignored with their reason; the rest are decided by ``decide(_:policy:)``.
    public static func plan(fileNames: [String], policy: RetentionPolicy, selection: RetentionSelection = RetentionSelection()) -> RetentionPlan {
        var archives: [ArchiveName] = []
        var ignored: [RetentionPlan.Ignored] = []
        for fileName in fileNames {
            guard let name = ArchiveName(parsing: fileName) else {
                ignored.append(.init(name: fileName, reason: "not an archive name"))
                continue
            }
            if let exclusion = selection.exclusion(of: name) {
                ignored.append(.init(name: fileName, reason: exclusion))
            } else {
                archives.append(name)
            }
        }
        return RetentionPlan(decisions: decide(archives, policy: policy), ignored: ignored.sorted { $0.name < $1.name })
    }

    /// Decides every archive in `names`. The result is ordered by group (host, then kind) and, inside a
    /// group, newest first.
    public static func decide(_ names: [ArchiveName], policy: RetentionPolicy) -> [RetentionDecision] {
        let groups = Dictionary(grouping: names) { GroupKey(host: $0.host, kind: $0.kind) }
        return groups.keys.sorted().flatMap { decideGroup(groups[$0]!, policy: policy) }
    }

    private struct GroupKey: Hashable, Comparable {
        var host: String
        var kind: String
        static func < (a: GroupKey, b: GroupKey) -> Bool { (a.host, a.kind) < (b.host, b.kind) }
    }

    /// Newest first: by the time in the name, then the same-second number, then the name itself
    /// (an encrypted and a plain archive of the same second: a fixed order).
    static func newestFirst(_ a: ArchiveName, _ b: ArchiveName) -> Bool {
        let (ta, tb) = (a.seconds, b.seconds)
        if ta != tb { return ta > tb }
        if a.sequence != b.sequence { return a.sequence > b.sequence }
        return a.fileName > b.fileName
    }

    private static func decideGroup(_ group: [ArchiveName], policy: RetentionPolicy) -> [RetentionDecision] {
        let sorted = group.sorted(by: newestFirst)
        guard let newest = sorted.first else { return [] }
        if policy.isEmpty { return sorted.map { RetentionDecision(name: $0, keep: true, reasons: []) } }
        let rules: [(label: String, count: Int, bucket: (Int64) -> Int64)] = [
            ("last", policy.last, { $0 }),
            ("hourly", policy.hourly, Bucket.hour),
            ("daily", policy.daily, Bucket.day),
            ("weekly", policy.weekly, Bucket.isoWeek),
            ("monthly", policy.monthly, Bucket.month),
            ("yearly", policy.yearly, Bucket.year),
        ]
        var used = Array(repeating: 0, count: rules.count)
        var lastBucket = Array(repeating: Int64?.none, count: rules.count)
        let withinCutoff = policy.within.map { newest.seconds - $0.seconds }
        var decisions: [RetentionDecision] = []
        for (index, name) in sorted.enumerated() {
            let time = name.seconds
            var reasons: [String] = []
            for (r, rule) in rules.enumerated() where used[r] < rule.count {
                // `last` has one bucket per archive; the others one per hour, day, week, month or year.
                let bucket = r == 0 ? Int64(index) : rule.bucket(time)
                guard bucket != lastBucket[r] else { continue }
                lastBucket[r] = bucket
                used[r] += 1
                reasons.append("\(rule.label) \(used[r])")
            }
            if let withinCutoff, let within = policy.within, time > withinCutoff {
                reasons.append("within \(within.text)")
            }
            decisions.append(RetentionDecision(name: name, keep: !reasons.isEmpty, reasons: reasons))
        }
        return decisions
    }
}

/// The buckets of the time-based rules, from Unix seconds in UTC.
public enum Bucket {
    public static func hour(_ seconds: Int64) -> Int64 { UTCTime.floorDivide(seconds, 3600) }
    public static func day(_ seconds: Int64) -> Int64 { UTCTime.floorDivide(seconds, 86_400) }
    public static func month(_ seconds: Int64) -> Int64 {
        let time = UTCTime(seconds: seconds)
        return Int64(time.year) * 100 + Int64(time.month)
    }
    public static func year(_ seconds: Int64) -> Int64 { Int64(UTCTime(seconds: seconds).year) }

    /// ISO 8601 week as `yyyyww` (the week-numbering year, then the week 1–53). A week belongs to the
    /// year that holds its Thursday: 2027-01-01 (a Friday) is in 2026's week 53.
    public static func isoWeek(_ seconds: Int64) -> Int64 {
        let (year, week) = isoWeekDate(seconds)
        return Int64(year) * 100 + Int64(week)
    }

    public static func isoWeekDate(_ seconds: Int64) -> (year: Int, week: Int) {
        let days = day(seconds)
        // 1970-01-01 was a Thursday; ISO weekdays run Monday 1 … Sunday 7.
        let weekday = Int((days + 3) % 7 + 7) % 7 + 1
        let thursday = days - Int64(weekday) + 4
        let year = UTCTime(seconds: thursday * 86_400).year
        let dayOfYear = thursday - UTCTime(year: year, month: 1, day: 1).days
        return (year, Int(dayOfYear / 7) + 1)
    }
}
