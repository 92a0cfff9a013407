import Foundation

/// When a scheduled profile runs: `hourly`, `daily`, `weekly`, or a systemd calendar expression.
public struct ScheduleTime: Sendable, Equatable {
    public enum Every: Sendable, Equatable {
        case hourly, daily, weekly
        case calendar(String)
    }

    public var every: Every
    public var hour: Int
    public var minute: Int

    /// Parses `--every` and `--at HH:MM` (default 03:15).
    /// - Throws: ``BackupError`` `usage`.
    public init(every: String, at: String?) throws {
        switch every {
        case "hourly": self.every = .hourly
        case "daily": self.every = .daily
        case "weekly": self.every = .weekly
        default:
            guard !every.isEmpty, !every.contains("\n") else { throw BackupError.usage("--every must be hourly, daily, weekly or a calendar expression") }
            self.every = .calendar(every)
        }
        let parts = (at ?? "03:15").split(separator: ":").map { Int($0) }
        guard parts.count == 2, let hour = parts[0], let minute = parts[1], (0..<24).contains(hour), (0..<60).contains(minute) else {
            throw BackupError.usage("--at must be HH:MM (got \(at ?? ""))")
        }
        self.hour = hour
        self.minute = minute
    }

    /// systemd's `OnCalendar=`.
    public var onCalendar: String {
        let hm = String(format: "%02d:%02d:00", hour, minute)
        switch every {
        case .hourly: return String(format: "*-*-* *:%02d:00", minute)
        case .daily: return "*-*-* \(hm)"
        case .weekly: return "Mon *-*-* \(hm)"
        case .calendar(let expression): return expression
        }
    }

    /// A crontab line's time fields; nil for a calendar expression cron cannot say.
    public var cron: String? {
        switch every {
        case .hourly: return "\(minute) * * * *"
        case .daily: return "\(minute) \(hour) * * *"
        case .weekly: return "\(minute) \(hour) * * 1"
        case .calendar: return nil
        }
    }
}

/// The files `schedule install` writes and `schedule remove` removes, for one profile: a systemd user
/// service and timer on Linux, a launchd agent on macOS, or a crontab line. Pure: it only makes text.
public struct ScheduleUnits: Sendable {
    public var profile: String
    /// The absolute path of the `ptc-backup` that runs.
    public var executable: String
    /// `--config`, passed on to `run` when given.
    public var config: String?
    public var time: ScheduleTime

    public init(profile: String, executable: String, config: String?, time: ScheduleTime) {
        self.profile = profile
        self.executable = executable
        self.config = config
        self.time = time
    }

    /// The command line the scheduler runs.
    public var command: [String] {
        [executable, "run", profile, "--quiet"] + (config.map { ["--config", $0] } ?? [])
    }

    /// `ptc-backup-PROFILE`.
    public var unitName: String { "ptc-backup-\(profile)" }

    public var service: String {
        """
        # Written by `ptc-backup schedule install \(profile)`; removed by `ptc-backup schedule remove \(profile)`.
        [Unit]
        Description=ptc-backup profile \(profile) (PlanToCode backup)

        [Service]
        Type=oneshot
        ExecStart=\(command.map(Self.systemdQuoted).joined(separator: " "))
        Nice=19
        IOSchedulingClass=idle

        """
    }

    public var timer: String {
        """
        # Written by `ptc-backup schedule install \(profile)`.
        [Unit]
        Description=Run ptc-backup profile \(profile)

        [Timer]
        OnCalendar=\(time.onCalendar)
        Persistent=true
        RandomizedDelaySec=\(time.every == .hourly ? "5min" : "10min")

        [Install]
        WantedBy=timers.target

        """
    }

    /// `com.plantocode.ptc-backup.PROFILE`.
    public var launchdLabel: String { "com.plantocode.ptc-backup.\(profile)" }

    public var launchdPlist: String {
        var interval = "<key>Minute</key><integer>\(time.minute)</integer>"
        if time.every != .hourly { interval += "<key>Hour</key><integer>\(time.hour)</integer>" }
        if time.every == .weekly { interval += "<key>Weekday</key><integer>1</integer>" }
        let arguments = command.map { "        <string>\(Self.xmlEscaped($0))</string>" }.joined(separator: "\n")
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <plist version="1.0">
            <dict>
                <key>Label</key><string>\(Self.xmlEscaped(launchdLabel))</string>
                <key>ProgramArguments</key>
                <array>
            \(arguments)
                </array>
                <key>StartCalendarInterval</key>
                <dict>\(interval)</dict>
                <key>ProcessType</key><string>Background</string>
                <key>LowPriorityIO</key><true/>
            </dict>
            </plist>

            """
    }

    /// A crontab line, or nil when the time is a calendar expression.
    public var crontabLine: String? {
        time.cron.map { "\($0) \(command.map(Self.shellQuoted).joined(separator: " "))" }
    }

    static func systemdQuoted(_ word: String) -> String {
        guard word.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" || $0 == "%" || $0 == "$" }) else { return word }
        return "\"" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "$", with: "$$") + "\""
    }

    static func shellQuoted(_ word: String) -> String {
        guard word.contains(where: { !($0.isLetter || $0.isNumber || "/._-:=".contains($0)) }) else { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// What `schedule` did: the files written or removed, the commands run (or to run), and what is installed.
public struct ScheduleReport: Codable, Sendable {
    public var action: String
    public var dryRun: Bool
    /// Files written (with their text when `dryRun`) or removed.
    public var files: [File] = []
    /// Commands run, or for the user to run when no user manager is there.
    public var commands: [String] = []
    /// Profiles installed, with their schedule and last run.
    public var installed: [Installed] = []
    public var message: String?

    public struct File: Codable, Sendable {
        public var path: String
        public var text: String?
    }

    public struct Installed: Codable, Sendable {
        public var profile: String
        public var schedule: String
        public var lastRun: String?
    }
}

/// Installs, lists and removes the scheduler files of profiles: systemd user units under
/// `$XDG_CONFIG_HOME/systemd/user` on Linux, a launchd agent under `~/Library/LaunchAgents` on macOS.
public struct Scheduler: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    var home: String { environment["HOME"] ?? NSHomeDirectory() }

    /// Where the units go.
    public var unitFolder: String {
        #if os(macOS)
        return home + "/Library/LaunchAgents"
        #else
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
        return base + "/systemd/user"
        #endif
    }

    /// Where `run` keeps each profile's last report.
    public var stateFolder: String {
        let base = environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/state"
        return base + "/ptc-backup"
    }

    /// Whether a systemd user manager answers (`systemctl --user` would work).
    var userManagerRunning: Bool {
        guard let runtime = environment["XDG_RUNTIME_DIR"] else { return false }
        return FileManager.default.fileExists(atPath: runtime + "/systemd/private")
    }

    /// Writes the units of `units` (or with `dryRun` only says what it would write) and enables them when
    /// a user manager is running; otherwise says the commands to run.
    public func install(_ units: ScheduleUnits, dryRun: Bool) throws(BackupError) -> ScheduleReport {
        try BackupError.atBoundary("installing the schedule of \(units.profile)") {
            var report = ScheduleReport(action: "install", dryRun: dryRun)
            #if os(macOS)
            let files = [(unitFolder + "/\(units.launchdLabel).plist", units.launchdPlist)]
            let commands = ["launchctl bootstrap gui/\(getuid()) \(unitFolder)/\(units.launchdLabel).plist"]
            #else
            let files = [(unitFolder + "/\(units.unitName).service", units.service), (unitFolder + "/\(units.unitName).timer", units.timer)]
            let commands = ["systemctl --user daemon-reload", "systemctl --user enable --now \(units.unitName).timer"]
            #endif
            report.files = files.map { .init(path: $0.0, text: dryRun ? $0.1 : nil) }
            report.commands = commands
            guard !dryRun else { return report }
            try FileSystem.makeFolder(unitFolder, doing: "creating the scheduler's folder")
            for (path, text) in files {
                do {
                    try text.write(toFile: path, atomically: true, encoding: .utf8)
                } catch {
                    throw BackupError(.cantCreate, "cannot write \(path): \(error)")
                }
            }
            #if os(macOS)
            report.message = try run(commands) ? "installed and loaded" : "installed, but loading it failed: run the command shown"
            #else
            if userManagerRunning {
                report.message = try run(commands) ? "installed and enabled" : "installed, but enabling it failed: run the commands shown"
            } else {
                report.message = "installed; no systemd user manager is running here: run the commands shown to enable it"
            }
            #endif
            return report
        }
    }

    /// Disables and removes exactly what ``install(_:dryRun:)`` wrote for `profile`.
    public func remove(profile: String, dryRun: Bool) throws(BackupError) -> ScheduleReport {
        try BackupError.atBoundary("removing the schedule of \(profile)") {
            var report = ScheduleReport(action: "remove", dryRun: dryRun)
            let unit = "ptc-backup-\(profile)"
            #if os(macOS)
            let paths = [unitFolder + "/com.plantocode.ptc-backup.\(profile).plist"]
            let commands = ["launchctl bootout gui/\(getuid())/com.plantocode.ptc-backup.\(profile)"]
            #else
            let paths = [unitFolder + "/\(unit).timer", unitFolder + "/\(unit).service"]
            let commands = ["systemctl --user disable --now \(unit).timer", "systemctl --user daemon-reload"]
            #endif
            let present = paths.filter(FileSystem.exists)
            guard !present.isEmpty else { throw BackupError(.noInput, "no schedule is installed for profile \(profile) (looked in \(unitFolder))") }
            report.files = present.map { .init(path: $0, text: nil) }
            report.commands = commands
            guard !dryRun else { return report }
            #if os(macOS)
            _ = try? run(commands)
            #else
            if userManagerRunning { _ = try? run(commands) }
            #endif
            for path in present { FileSystem.remove(path) }
            return report
        }
    }

    /// The profiles installed, with their schedule and their last run (from `run`'s state file).
    public func list() -> ScheduleReport {
        var report = ScheduleReport(action: "list", dryRun: false)
        let names = (try? FileSystem.contents(of: unitFolder, doing: "listing the schedules")) ?? []
        #if os(macOS)
        let prefix = "com.plantocode.ptc-backup.", suffix = ".plist"
        #else
        let prefix = "ptc-backup-", suffix = ".timer"
        #endif
        for name in names.sorted() where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let profile = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            let text = (try? String(contentsOfFile: unitFolder + "/" + name, encoding: .utf8)) ?? ""
            let schedule = text.split(separator: "\n").first { $0.hasPrefix("OnCalendar=") }.map { String($0.dropFirst("OnCalendar=".count)) }
                ?? "launchd StartCalendarInterval"
            let state = stateFolder + "/\(profile).json"
            var last: String?
            if let data = FileManager.default.contents(atPath: state),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                let ok = (object["ok"] as? Bool) == true
                let when = (try? FileManager.default.attributesOfItem(atPath: state)[.modificationDate] as? Date).map {
                    Timestamp.iso8601(seconds: Int64($0.timeIntervalSince1970))
                } ?? "?"
                last = "\(when) \(ok ? "ok" : "failed (exit \(object["exitCode"] as? Int ?? -1))")"
            }
            report.installed.append(.init(profile: profile, schedule: schedule, lastRun: last))
        }
        return report
    }

    /// Runs each command (no shell); false when one fails.
    private func run(_ commands: [String]) throws -> Bool {
        for command in commands {
            let words = command.split(separator: " ").map(String.init)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = words
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus != 0 { return false }
        }
        return true
    }
}
