import BackupDigest
import BackupSQLite
import Foundation
import PlanToCodeSchema

/// Writes realistic PlanToCode databases: every table, any app version of the schema history,
/// a size target, prose and code of tens of KB, ANSI terminal logs up to megabytes, JSON metadata,
/// timestamps in seconds and milliseconds, unicode, NULLs; optionally with the latest commits
/// left only in the `-wal` file. Deterministic for a seed (timestamps are relative to `now`).
public struct SampleGenerator {
    public struct Options: Sendable {
        public var version: SchemaCatalog.AppVersion = SchemaCatalog.current
        /// A schema era (SPEC.md): the database is created with the era's table set and column sets
        /// instead of `version`'s, carries the era's version markers, and holds rows in its dropped tables.
        public var era: SchemaCatalog.Era?
        /// Rows that break their foreign keys, written as the app did while running with foreign keys
        /// off: jobs whose session is gone, history rows of a missing session, terminals of a missing job.
        public var orphans = 0
        /// Approximate size of the content written, in bytes.
        public var targetBytes: Int64 = 2_000_000
        public var seed: UInt64 = 1
        /// Commits (each one new session with a job) left only in the `-wal` file at the end.
        public var walOnlyCommits = 0
        public var now = Date()
        /// Largest terminal log, in bytes.
        public var maxTerminalLog = 3_000_000
        public init() {}
    }

    /// What was written, for tests to check against.
    public struct Summary: Sendable {
        public var path: String
        public var sessionIDs: [String] = []
        public var walOnlySessionIDs: [String] = []
        /// Ids of the orphan jobs (``Options/orphans``).
        public var orphanJobIDs: [String] = []
        public var contentBytes: Int64 = 0
    }

    public enum Failure: Error, CustomStringConvertible {
        case exists(String)
        public var description: String {
            switch self {
            case .exists(let path): return "\(path) already exists; remove it or choose another path"
            }
        }
    }

    let options: Options
    var synth: TextSynth
    var summary: Summary
    private var columns: [String: [String]] = [:]
    /// Whether terminal_sessions accepts the current eleven statuses (a 1.0.x table allows five).
    private var hasNewStatuses = false
    private var statements: [String: Statement] = [:]
    private let projects: [String]

    /// Generates a database at `path`, which must not exist yet.
    public static func generate(at path: String, options: Options = Options()) throws -> Summary {
        guard !FileManager.default.fileExists(atPath: path) else { throw Failure.exists(path) }
        var generator = SampleGenerator(path: path, options: options)
        try generator.run()
        return generator.summary
    }

    private init(path: String, options: Options) {
        self.options = options
        self.synth = TextSynth(seed: options.seed)
        self.summary = Summary(path: path)
        var s = TextSynth(seed: options.seed ^ 0xABCDEF)
        let users = ["alex", "mira", "dev", "jo"]
        let names = ["plantocode-desktop", "billing-service", "数据平台", "mobile-app", "infra tools", "café-menu", "api-gateway"]
        self.projects = (0..<6).map { i in "/home/\(s.pick(users))/code/\(names[i % names.count])" } + ["/Users/sam/Projects/website"]
    }

    private var nowSeconds: Int64 { Int64(options.now.timeIntervalSince1970) }

    private mutating func run() throws {
        let db = try Connection(path: summary.path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON")
        try createSchema(db)
        try db.inTransaction {
            try writeMarkers(db)
            for project in projects {
                try writeProjectPrompts(db, project: project)
            }
            try writeLogs(db)
            try writeLegacyRows(db)
            return .commit
        }
        // Sessions in transactions of about 64 MiB of content each.
        while summary.contentBytes < options.targetBytes {
            try db.inTransaction {
                let start = summary.contentBytes
                repeat {
                    summary.sessionIDs.append(try writeSession(db))
                } while summary.contentBytes < options.targetBytes && summary.contentBytes - start <= 64 << 20
                return .commit
            }
        }
        if options.orphans > 0 { try writeOrphans(db) }
        // The app's settings: WAL, and the data as the app would leave it.
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=NORMAL")
        if options.walOnlyCommits > 0 {
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute("PRAGMA wal_autocheckpoint=0")
            try db.setNoCheckpointOnClose(true)
            for _ in 0..<options.walOnlyCommits {
                try db.inTransaction {
                    let id = try writeSession(db, jobs: 1)
                    summary.walOnlySessionIDs.append(id)
                    summary.sessionIDs.append(id)
                    return .commit
                }
            }
        }
        statements.removeAll()
        try db.close()
    }

    private mutating func createSchema(_ db: Connection) throws {
        if let era = options.era {
            try db.execute(try SchemaCatalog.sql(for: era))
        } else if let count = options.version.migrationCount {
            try db.execute(try SchemaCatalog.baseSQL)
            for migration in SchemaCatalog.migrations.prefix(count) {
                try db.execute(try SchemaCatalog.sql(for: migration))
            }
            // A database the current app has opened: at start-up it created the indexes of today's schema
            // that were missing (tables and triggers it already had, by their table).
            if count == SchemaCatalog.migrations.count {
                for statement in Connection.statements(in: try SchemaCatalog.currentSQL) where statement.uppercased().hasPrefix("CREATE INDEX") {
                    try db.execute(statement)
                }
            }
        } else {
            try db.execute(try SchemaCatalog.currentSQL)
        }
        for table in try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").compactMap({ $0[0].string }) {
            columns[table] = try db.rows("SELECT name FROM pragma_table_info(?)", [.text(table)]).compactMap { $0[0].string }
        }
        hasNewStatuses = (try db.scalar("SELECT sql FROM sqlite_schema WHERE name = 'terminal_sessions'").string ?? "").contains("'restored'")
    }

    private var applied: [SchemaCatalog.Migration] {
        if let era = options.era { return era.isCurrent ? SchemaCatalog.migrations : [] }
        return SchemaCatalog.migrations.prefix(options.version.migrationCount ?? SchemaCatalog.migrations.count).map { $0 }
    }

    /// The device ids of history rows are lower-case once `normalize_history_device_ids` has run.
    private var deviceIDsNormalised: Bool { applied.contains { $0.id == "normalize_history_device_ids" } }

    /// Inserts `values` into `table`, keeping only the columns this version's table has.
    private mutating func insert(_ db: Connection, _ table: String, _ values: KeyValuePairs<String, SQLValue>) throws {
        guard let tableColumns = columns[table] else { return }
        let present = values.filter { tableColumns.contains($0.key) }
        let key = table + ":" + present.map(\.key).joined(separator: ",")
        let statement: Statement
        if let cached = statements[key] {
            statement = cached
        } else {
            let names = present.map { "\"\($0.key)\"" }.joined(separator: ", ")
            let marks = Array(repeating: "?", count: present.count).joined(separator: ", ")
            statement = try db.prepare("INSERT INTO \(table) (\(names)) VALUES (\(marks))")
            statements[key] = statement
        }
        try statement.bind(present.map(\.value))
        try statement.step()
        statement.reset()
        for case .text(let text) in present.map(\.value) { summary.contentBytes += Int64(text.utf8.count) }
    }

    private mutating func writeMarkers(_ db: Connection) throws {
        let t = SQLValue.integer(nowSeconds - 200 * 86_400)
        let appVersion = options.era?.appVersion ?? options.version.appVersion
        let schemaVersion = options.era?.schemaVersion ?? options.version.schemaVersion
        try insert(db, "key_value_store", ["key": .text("app_version"), "value": .text(appVersion), "updated_at": t])
        try insert(db, "key_value_store", ["key": .text("schema_version"), "value": .text(schemaVersion), "updated_at": t])
        try insert(db, "key_value_store", ["key": .text("last_opened_project"), "value": .text(projects[0]), "updated_at": .integer(nowSeconds * 1000)])
        try insert(db, "key_value_store", ["key": .text("onboarding_completed"), "value": .null, "updated_at": t])
        for (i, migration) in applied.enumerated() {
            try insert(db, "key_value_store", ["key": .text("migration_\(migration.id)_applied"), "value": .text("true"), "updated_at": t])
            try insert(db, "migrations", ["name": .text(migration.id), "applied_at": .integer(nowSeconds - Int64(180 - i) * 86_400)])
        }
    }

    private mutating func writeProjectPrompts(_ db: Connection, project: String) throws {
        for taskType in ["implementation_plan", "path_finder", "text_improvement"] where synth.chance(0.7) {
            try insert(db, "project_system_prompts", [
                "project_hash": .text(ProjectHash.of(project)), "task_type": .text(taskType),
                "system_prompt": .text(synth.document(synth.int(500...4000))),
                "is_custom": .integer(synth.chance(0.5) ? 1 : 0),
                "created_at": synth.chance(0.2) ? .null : .integer(timestamp(daysAgo: 150)),
                "updated_at": .integer(timestamp(daysAgo: 100)),
            ])
        }
    }

    private mutating func writeLogs(_ db: Connection) throws {
        for _ in 0..<synth.int(5...40) {
            try insert(db, "error_logs", [
                "timestamp": .integer(timestamp(daysAgo: 60)), "level": .text(synth.pick(["ERROR", "WARN", "INFO", "DEBUG"])),
                "error_type": synth.chance(0.3) ? .null : .text(synth.pick(["NetworkError", "DatabaseError", "ValidationError"])),
                "message": .text(synth.document(synth.int(40...300))),
                "context": synth.chance(0.5) ? .null : .text("job \(synth.uuid())"),
                "stack": synth.chance(0.5) ? .null : .text(synth.document(synth.int(200...1500))),
                "metadata": synth.chance(0.5) ? .null : .text("{\"retry\":\(synth.int(0...5)),\"route\":\"/sessions\"}"),
                "app_version": .text(options.version.appVersion), "platform": .text(synth.pick(["linux", "macos", "windows"])),
            ])
        }
        for _ in 0..<synth.int(1...5) {
            try insert(db, "db_diagnostic_logs", [
                "timestamp": .integer(timestamp(daysAgo: 90)), "error_type": .text("SQLITE_BUSY"),
                "error_message": .text("database is locked"), "additional_info": synth.chance(0.5) ? .null : .text("{\"attempt\":3}"),
            ])
        }
    }

    /// Rows of the tables early eras had and today's schema dropped (only those the database has).
    private mutating func writeLegacyRows(_ db: Connection) throws {
        let t = SQLValue.integer(nowSeconds - 150 * 86_400)
        for key in ["theme", "last_project"] {
            try insert(db, "meta", ["key": .text(key), "value": .text(synth.pick(["dark", projects[0], "{\"v\":1}"]))])
            try insert(db, "cached_state", ["project_directory": .text(projects[0]), "key": .text(key),
                                            "value": .text(synth.document(200)), "updated_at": t])
        }
        for taskType in ["implementation_plan", "path_finder"] {
            try insert(db, "system_prompts", ["id": .text(synth.uuid()), "session_id": .null, "task_type": .text(taskType),
                                              "system_prompt": .text(synth.document(800)), "is_default": .integer(1),
                                              "created_at": t, "updated_at": t])
            try insert(db, "default_system_prompts", ["id": .text(synth.uuid()), "task_type": .text(taskType),
                                                      "system_prompt": .text(synth.document(600)), "description": .text("default"),
                                                      "version": .text("1.0"), "created_at": t, "updated_at": t])
        }
        try insert(db, "application_configurations", ["config_key": .text("ui.layout"), "config_value": .text("{\"sidebar\":true}"),
                                                      "description": .null, "updated_at": t])
        try insert(db, "user_credits", ["user_id": .text(synth.uuid()), "balance": .real(12.5), "currency": .text("USD"), "updated_at": t])
        for _ in 0..<3 {
            try insert(db, "credit_transactions", ["id": .text(synth.uuid()), "user_id": .text("user-1"), "amount": .real(-0.25),
                                                   "currency": .text("USD"), "transaction_type": .text("usage"),
                                                   "description": .text("tokens"), "created_at": t])
        }
    }

    /// Rows whose parent is missing, written with foreign keys off (as the app once ran).
    private mutating func writeOrphans(_ db: Connection) throws {
        try db.execute("PRAGMA foreign_keys=OFF")
        try db.inTransaction {
            try insertOrphans(db)
            return .commit
        }
        try db.execute("PRAGMA foreign_keys=ON")
    }

    private mutating func insertOrphans(_ db: Connection) throws {
        for i in 0..<options.orphans {
            let missingSession = "gone-session-\(synth.hex(8))"
            let jobID = "orphan-job-\(synth.hex(8))"
            summary.orphanJobIDs.append(jobID)
            try insert(db, "background_jobs", [
                "id": .text(jobID), "session_id": .text(missingSession), "task_type": .text("path_finder"), "status": .text("completed"),
                "prompt": .text(synth.document(500)), "response": .text(synth.document(300)), "metadata": .null,
                "created_at": .integer(timestamp(daysAgo: 60)), "updated_at": .integer(timestamp(daysAgo: 30)),
            ])
            if i % 2 == 0 {
                try insert(db, "task_description_history", [
                    "session_id": .text(missingSession), "description": .text(synth.document(200)),
                    "created_at": .integer(timestamp(daysAgo: 60)), "sequence_number": .integer(0), "version": .integer(1),
                ])
                try insert(db, "terminal_sessions", [
                    "id": .text(synth.uuid()), "job_id": .text("gone-job-\(synth.hex(8))"), "session_id": .text(synth.hex(32)),
                    "status": .text("completed"), "created_at": .integer(nowSeconds - 86_400), "updated_at": .integer(nowSeconds - 86_400),
                    "output_log": .text(synth.terminalLog(500)),
                ])
            }
        }
    }

    /// A timestamp within the last `daysAgo` days, in milliseconds two times out of three (as the
    /// app's own code writes them) and in seconds otherwise (as column defaults write them).
    private mutating func timestamp(daysAgo: Int, milliseconds: Bool? = nil) -> Int64 {
        let seconds = nowSeconds - Int64(synth.int(0...(daysAgo * 86_400)))
        return (milliseconds ?? synth.chance(0.67)) ? seconds * 1000 + Int64(synth.int(0...999)) : seconds
    }

    static let sessionNames = ["Refactor auth flow", "Fix flaky upload test", "🚀 Launch checklist", "数据库迁移计划", "تحسين الأداء",
                               "Add dark mode", "Investigate memory leak", "Merge plans for v2", "Ünïcödé handling", "Write release notes"]
    static let taskTypes = ["implementation_plan", "implementation_plan_merge", "path_finder", "text_improvement",
                            "task_refinement", "regex_file_filter", "voice_transcription", "video_analysis", "unknown"]
    static let statuses = ["completed", "completed", "completed", "failed", "canceled", "running", "queued", "created",
                           "idle", "preparing", "acknowledged_by_worker", "preparing_input", "generating_stream", "processing_stream", "completed_by_tag"]

    @discardableResult
    private mutating func writeSession(_ db: Connection, jobs: Int? = nil) throws -> String {
        let id = synth.uuid()
        let project = synth.pick(projects)
        let created = timestamp(daysAgo: 120)
        let updated = Timestamp(created).adding(seconds: Int64(synth.int(0...(10 * 86_400))), clampTo: nowSeconds)
        let files = (0..<synth.int(0...12)).map { _ in "\"src/\(synth.hex(6)).rs\"" }.joined(separator: ",")
        try insert(db, "sessions", [
            "id": .text(id), "name": .text(synth.pick(Self.sessionNames)), "project_directory": .text(project),
            "project_hash": .text(ProjectHash.of(project)),
            "task_description": synth.chance(0.1) ? .null : .text(synth.document(synth.int(200...6000))),
            "search_term": synth.chance(0.6) ? .null : .text(synth.pick(["auth", "upload", "数据", "retry"])),
            "created_at": .integer(created), "updated_at": .integer(updated),
            "model_used": synth.chance(0.3) ? .null : .text(synth.pick(["claude-sonnet-4", "gpt-5", "gemini-2.5-pro"])),
            "search_selected_files_only": .integer(synth.chance(0.2) ? 1 : 0),
            "included_files": .text("[\(files)]"), "force_excluded_files": synth.chance(0.5) ? .null : .text("[]"),
            "video_analysis_prompt": synth.chance(0.9) ? .null : .text(synth.document(300)),
            "merge_instructions": synth.chance(0.8) ? .null : .text(synth.document(synth.int(100...800))),
            "task_history_version": .integer(Int64(synth.int(1...4))), "file_history_version": .integer(Int64(synth.int(1...3))),
            "task_history_current_index": .integer(Int64(synth.int(0...3))), "file_history_current_index": .integer(Int64(synth.int(0...2))),
            "title_regex": synth.chance(0.5) ? .null : .text("(?i)\\b(auth|login)\\b"), "content_regex": .null,
            "negative_title_regex": .null, "negative_content_regex": .null, "is_regex_active": .integer(synth.chance(0.5) ? 1 : 0),
            "codebase_structure": synth.chance(0.7) ? .null : .text(synth.document(synth.int(200...2000))),
            "title_regex_description": .null, "content_regex_description": .null, "negative_title_regex_description": .null,
            "negative_content_regex_description": .null, "regex_summary_explanation": synth.chance(0.8) ? .null : .text(synth.document(150)),
        ])
        for path in ["src/main.rs", "README.md"] where synth.chance(0.5) {
            try insert(db, "included_files", ["session_id": .text(id), "path": .text(path), "created_at": .integer(nowSeconds - 90 * 86_400)])
            try insert(db, "excluded_files", ["session_id": .text(id), "path": .text("target/\(path)"), "created_at": .integer(nowSeconds - 90 * 86_400)])
        }
        try insert(db, "task_settings", ["session_id": .text(id), "task_type": .text("implementation_plan"), "model": .text("claude-sonnet-4"),
                                         "max_tokens": .integer(8192), "temperature": .real(0.5)])
        for _ in 0..<(jobs ?? synth.int(1...8)) {
            try writeJob(db, sessionID: id, project: project)
        }
        let device = synth.pick(["A1B2C3D4-E5F6", "desktop-\(synth.hex(4))", "Laptop-\(synth.hex(4).uppercased())"])
        for sequence in 0..<synth.int(0...5) {
            try insert(db, "task_description_history", [
                "session_id": .text(id), "description": .text(synth.document(synth.int(100...3000))),
                "created_at": .integer(timestamp(daysAgo: 120)),
                "device_id": synth.chance(0.2) ? .null : .text(deviceIDsNormalised ? device.lowercased() : device),
                "sequence_number": .integer(Int64(sequence)), "version": .integer(Int64(synth.int(1...3))),
            ])
        }
        for sequence in 0..<synth.int(0...4) {
            try insert(db, "file_selection_history", [
                "session_id": .text(id), "included_files": .text("[\(files)]"), "force_excluded_files": .text("[]"),
                "created_at": .integer(timestamp(daysAgo: 120)),
                "device_id": synth.chance(0.2) ? .null : .text(deviceIDsNormalised ? device.lowercased() : device),
                "sequence_number": .integer(Int64(sequence)), "version": .integer(1),
            ])
        }
        return id
    }

    private mutating func writeJob(_ db: Connection, sessionID: String, project: String) throws {
        let id = synth.uuid()
        let created = timestamp(daysAgo: 120)
        let status = synth.pick(Self.statuses)
        let metadata: SQLValue = synth.chance(0.25) ? .null : .text(
            "{\"workflowId\":\"\(synth.uuid())\",\"stageName\":\"\(synth.pick(["FileFinder", "Planning", "Merge"]))\",\"attempt\":\(synth.int(1...3)),\"note\":\"\(synth.pick(["ok", "名前", "✅"]))\"}")
        let done = ["completed", "failed", "canceled", "completed_by_tag"].contains(status)
        try insert(db, "background_jobs", [
            "id": .text(id), "session_id": .text(sessionID), "task_type": .text(synth.pick(Self.taskTypes)), "status": .text(status),
            "prompt": .text(synth.document(synth.int(2_000...40_000))),
            "response": done && status != "failed" ? .text(synth.document(synth.int(1_000...30_000))) : .null,
            "error_message": status == "failed" ? .text("upstream error: \(synth.document(120))") : .null,
            "tokens_sent": .integer(Int64(synth.int(0...60_000))), "tokens_received": .integer(Int64(synth.int(0...20_000))),
            "cache_write_tokens": .integer(Int64(synth.int(0...5_000))), "cache_read_tokens": .integer(Int64(synth.int(0...50_000))),
            "model_used": .text(synth.pick(["claude-sonnet-4", "gpt-5", "gemini-2.5-pro"])),
            "actual_cost": synth.chance(0.2) ? .null : .real(Double(synth.int(0...250_000)) / 100_000),
            "metadata": metadata,
            "system_prompt_template": synth.chance(0.5) ? .null : .text(synth.document(synth.int(200...1500))),
            "created_at": .integer(created), "updated_at": .integer(Timestamp(created).adding(seconds: 30, clampTo: nowSeconds)),
            "start_time": .integer(created), "end_time": done ? .integer(Timestamp(created).adding(seconds: 90, clampTo: nowSeconds)) : .null,
            "is_finalized": .integer(done ? 1 : 0), "server_request_id": synth.chance(0.5) ? .null : .text(synth.uuid()),
        ])
        guard synth.chance(0.3) else { return }
        let oldStatuses = ["idle", "running", "completed", "failed", "agent_requires_attention"]
        let allStatuses = oldStatuses + ["starting", "initializing", "recovering", "disconnected", "stuck", "restored"]
        // Large logs (up to megabytes) now and then, never more than a twentieth of the target size.
        let largest = max(100_000, min(options.maxTerminalLog, Int(options.targetBytes / 20)))
        let logSize = synth.chance(0.1) ? synth.int(100_000...largest) : synth.int(200...60_000)
        let started = timestamp(daysAgo: 100)
        try insert(db, "terminal_sessions", [
            "id": .text(synth.uuid()), "job_id": .text(id), "session_id": .text(synth.hex(32)),
            "status": .text(synth.pick(hasNewStatuses ? allStatuses : oldStatuses)),
            "process_pid": synth.chance(0.5) ? .null : .integer(Int64(synth.int(1000...99_999))),
            "created_at": .integer(started), "updated_at": .integer(started),
            "started_at": .integer(started), "ended_at": synth.chance(0.5) ? .null : .integer(started + 60_000),
            "last_output_at": .integer(started), "exit_code": synth.chance(0.5) ? .null : .integer(Int64(synth.int(0...2))),
            "working_directory": .text(project),
            "environment_vars": .text("{\"TERM\":\"xterm-256color\",\"ANTHROPIC_API_KEY\":\"sk-ant-test-\(synth.hex(24))\"}"),
            "title": .text("\(synth.pick(["claude", "codex", "bash"])) — \(synth.pick(Self.sessionNames))"),
            "output_log": .text(synth.terminalLog(logSize)),
            "output_snapshot": synth.chance(0.5) ? .null : .text(synth.terminalLog(2_000)),
        ])
    }
}

/// A stored timestamp, in whichever unit it was written.
struct Timestamp {
    let raw: Int64
    init(_ raw: Int64) { self.raw = raw }

    var isMilliseconds: Bool { raw > 100_000_000_000 }

    /// Adds `seconds` in the value's own unit, never past `now`.
    func adding(seconds: Int64, clampTo now: Int64) -> Int64 {
        isMilliseconds ? min(raw + seconds * 1000, now * 1000) : min(raw + seconds, now)
    }
}
