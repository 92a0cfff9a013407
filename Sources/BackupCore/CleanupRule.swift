import BackupSQLite
import Foundation

/// The app's own retention cleanup ("clear job history"), read from the database it applies to
/// (SPEC.md): jobs whose status is completed, failed or canceled, whose `created_at` is below now minus
/// N days **in milliseconds** (so every job stamped in seconds counts as old), and whose task type is not
/// one of the two plan types. N is `clearJobHistoryAfterDays` of the JSON stored in `key_value_store`
/// under `app_settings` (7 when absent); -1 drops the time condition, -2 the task-type one too, and any
/// other value that is not positive means 90 days.
public struct CleanupRule: Sendable, Equatable {
    /// Where the rule's days came from.
    public enum Source: Sendable, Equatable {
        /// The app's setting, as stored.
        case setting(Int)
        /// No setting: the app's default.
        case absent
        /// A setting that is not JSON or has no integer `clearJobHistoryAfterDays`: the app's default.
        case unreadable(String)
        /// `--older-than AGE`, in place of the setting's days.
        case option(Age)
    }

    public static let statuses = ["completed", "failed", "canceled"]
    public static let keptTaskTypes = ["implementation_plan", "implementation_plan_merge"]
    public static let defaultDays = 7

    public let source: Source
    /// How old a job must be, in milliseconds; nil when age does not matter (-1, -2).
    public let minimumAgeMilliseconds: Int64?
    /// Whether the two plan task types are kept (all but -2).
    public let keepsPlans: Bool

    public init(source: Source) {
        self.source = source
        switch source {
        case .option(let age):
            minimumAgeMilliseconds = age.seconds * 1000
            keepsPlans = true
        case .absent, .unreadable:
            minimumAgeMilliseconds = Int64(Self.defaultDays) * 86_400_000
            keepsPlans = true
        case .setting(let days):
            switch days {
            case -2: minimumAgeMilliseconds = nil; keepsPlans = false
            case -1: minimumAgeMilliseconds = nil; keepsPlans = true
            case 1...: minimumAgeMilliseconds = Int64(days) * 86_400_000; keepsPlans = true
            default: minimumAgeMilliseconds = 90 * 86_400_000; keepsPlans = true
            }
        }
    }

    /// The rule of the database `db` (its `main` schema), or `--older-than` when given.
    static func read(_ db: Connection, olderThan: Age?) throws(SQLiteError) -> CleanupRule {
        if let olderThan { return CleanupRule(source: .option(olderThan)) }
        let hasStore = try db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'key_value_store'").int64 ?? 0 > 0
        guard hasStore, let text = try db.scalar("SELECT value FROM key_value_store WHERE key = 'app_settings'").string else {
            return CleanupRule(source: .absent)
        }
        guard (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any] else {
            return CleanupRule(source: .unreadable("the app_settings value is not a JSON object"))
        }
        struct Settings: Decodable { let clearJobHistoryAfterDays: Int? }
        guard let settings = try? JSONDecoder().decode(Settings.self, from: Data(text.utf8)) else {
            return CleanupRule(source: .unreadable("clearJobHistoryAfterDays is not a whole number of days"))
        }
        return CleanupRule(source: settings.clearJobHistoryAfterDays.map { .setting($0) } ?? .absent)
    }

    /// SQL true for the jobs (`alias`) the rule selects at `now`, and within `ahead` of it (the jobs it
    /// will select by then). Timestamps are compared raw against milliseconds, as the app does.
    func condition(_ alias: String, now: Date, ahead: Age? = nil) -> String {
        let statuses = Self.statuses.map { "'\($0)'" }.joined(separator: ", ")
        var parts = ["\(alias).status IN (\(statuses))"]
        if keepsPlans {
            parts.append("\(alias).task_type NOT IN (\(Self.keptTaskTypes.map { "'\($0)'" }.joined(separator: ", ")))")
        }
        if let minimumAgeMilliseconds {
            let nowMilliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
            let cutoff = nowMilliseconds - minimumAgeMilliseconds + (ahead?.seconds ?? 0) * 1000
            parts.append("\(alias).created_at < \(cutoff)")
        }
        return parts.joined(separator: " AND ")
    }

    /// One line for people: what the rule is and where it came from.
    public var description: String {
        let what: String
        switch (minimumAgeMilliseconds, keepsPlans) {
        case (nil, true): what = "every completed, failed or canceled job except plans"
        case (nil, false): what = "every completed, failed or canceled job"
        case (let ms?, _): what = "completed, failed or canceled jobs older than \(Age.describe(milliseconds: ms)), except plans"
        }
        switch source {
        case .setting(let days): return "\(what) (the app's setting clearJobHistoryAfterDays = \(days))"
        case .absent: return "\(what) (no clearJobHistoryAfterDays setting: the app's default of \(Self.defaultDays) days)"
        case .unreadable(let why): return "\(what) (\(why): the app's default of \(Self.defaultDays) days)"
        case .option(let age): return "\(what) (--older-than \(age.text))"
        }
    }
}

/// The rows a cleanup archive holds: the jobs a ``CleanupRule`` selects (with `ahead`), their terminal
/// sessions, and their parent sessions' rows.
public struct JobSelection: Sendable, Equatable {
    public var rule: CleanupRule
    public var ahead: Age?
    public var now: Date
    /// `--sessions-older-than`: also whole sessions, with everything under them, whose `updated_at` and
    /// every job's `created_at` and `updated_at` are older than this.
    public var sessionsOlderThan: Age?

    public init(rule: CleanupRule, ahead: Age?, now: Date, sessionsOlderThan: Age? = nil) {
        self.rule = rule
        self.ahead = ahead
        self.now = now
        self.sessionsOlderThan = sessionsOlderThan
    }

    /// SQL true for the sessions (`alias`, of `schemaName`) that `sessionsOlderThan` takes whole.
    func wholeSessionCondition(_ alias: String, schemaName: String) -> String {
        guard let age = sessionsOlderThan else { return "0" }
        let cutoff = Int64(now.timeIntervalSince1970) - age.seconds
        return """
            \(Timestamp.secondsSQL("\(alias).updated_at")) < \(cutoff) AND NOT EXISTS (SELECT 1 FROM \(schemaName).background_jobs w
            WHERE w.session_id = \(alias).id AND (\(Timestamp.secondsSQL("w.created_at")) >= \(cutoff)
            OR \(Timestamp.secondsSQL("coalesce(w.updated_at, w.created_at)")) >= \(cutoff)))
            """
    }

    /// Fills `temp.ptc_jobs(id)` with the selected jobs of `schemaName`, `temp.ptc_whole(id)` with the
    /// sessions taken whole, and `temp.ptc_selected(id)` with every session whose row comes along.
    /// Returns how many jobs.
    func resolve(in db: Connection, schemaName: String, facts: DatabaseFacts) throws -> Int {
        guard facts.hasTable("background_jobs") else { return 0 }
        try db.execute("CREATE TEMP TABLE ptc_jobs (id TEXT PRIMARY KEY); CREATE TEMP TABLE ptc_selected (id TEXT PRIMARY KEY); CREATE TEMP TABLE ptc_whole (id TEXT PRIMARY KEY)")
        if sessionsOlderThan != nil, facts.hasTable("sessions") {
            try db.execute("INSERT INTO temp.ptc_whole SELECT s.id FROM \(schemaName).sessions s WHERE \(wholeSessionCondition("s", schemaName: schemaName))")
            try db.execute("INSERT OR IGNORE INTO temp.ptc_selected SELECT id FROM temp.ptc_whole")
            try db.execute("INSERT OR IGNORE INTO temp.ptc_jobs SELECT id FROM \(schemaName).background_jobs WHERE session_id IN (SELECT id FROM temp.ptc_whole)")
        }
        try db.execute("INSERT OR IGNORE INTO temp.ptc_jobs SELECT j.id FROM \(schemaName).background_jobs j WHERE \(rule.condition("j", now: now, ahead: ahead))")
        try db.execute("INSERT OR IGNORE INTO temp.ptc_selected SELECT DISTINCT session_id FROM \(schemaName).background_jobs WHERE id IN (SELECT id FROM temp.ptc_jobs)")
        return Int(try db.scalar("SELECT count(*) FROM temp.ptc_jobs").int64 ?? 0) + Int(try db.scalar("SELECT count(*) FROM temp.ptc_whole WHERE id NOT IN (SELECT session_id FROM \(schemaName).background_jobs)").int64 ?? 0)
    }
}
