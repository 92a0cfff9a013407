@testable import BackupCore
import BackupTestSupport
import Foundation
import Testing

@Suite struct ScheduleCLITests {
    func xdg(_ dir: TemporaryDirectory) throws -> [String: String] {
        try FileManager.default.createDirectory(atPath: dir.file("config/ptc-backup"), withIntermediateDirectories: true)
        try "[profile.nightly]\noutput = \"\(dir.file("backups"))\"\nkeep_daily = 7\n"
            .write(toFile: dir.file("config/ptc-backup/config.toml"), atomically: true, encoding: .utf8)
        return ["XDG_CONFIG_HOME": dir.file("config"), "XDG_STATE_HOME": dir.file("state"), "XDG_RUNTIME_DIR": dir.file("no-manager")]
    }

    /// The units systemd would load: checked by `systemd-analyze verify`.
    @Test func installWritesUnitsSystemdAcceptsListAndRemoveUndoIt() throws {
        let dir = TemporaryDirectory("schedule")
        let env = try xdg(dir)
        let dry = try ptc(["schedule", "install", "nightly", "--at", "02:30", "--dry-run"], extra: env)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("OnCalendar=*-*-* 02:30:00") && dry.stdout.contains("Persistent=true"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("config/systemd")))

        let install = try ptc(["schedule", "install", "nightly", "--every", "daily", "--at", "02:30"], extra: env)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("systemctl --user enable --now ptc-backup-nightly.timer"))
        let units = dir.file("config/systemd/user")
        #expect(try FileManager.default.contentsOfDirectory(atPath: units).sorted() == ["ptc-backup-nightly.service", "ptc-backup-nightly.timer"])
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let verify = try Binary.run("/usr/bin/systemd-analyze", ["verify", units + "/ptc-backup-nightly.service", units + "/ptc-backup-nightly.timer"])
            #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
        }

        // list: installed, never run; after a run, its outcome.
        #expect(try ptc(["schedule", "list"], extra: env).stdout.contains("nightly"))
        let run = try ptc(["run", "nightly", "--db", dir.file("missing.db")], extra: env)
        #expect(run.status == 66)
        let listed = try ptc(["schedule", "list"], extra: env)
        #expect(listed.stdout.contains("failed (exit 66)"), "\(listed.stdout)")

        let remove = try ptc(["schedule", "remove", "nightly"], extra: env)
        #expect(remove.status == 0, "\(remove.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: units).isEmpty)
        #expect(try ptc(["schedule", "remove", "nightly"], extra: env).status == 66)
        // A profile that is not in the config is refused before anything is written.
        #expect(try ptc(["schedule", "install", "weekly"], extra: env).status == 78)
    }

    @Test func theLaunchdAgentAndTheCrontabLine() throws {
        let units = ScheduleUnits(profile: "nightly", executable: "/usr/local/bin/ptc-backup", config: "/Users/ana/my config.toml",
                                  time: try ScheduleTime(every: "weekly", at: "04:05"))
        let plist = try PropertyListSerialization.propertyList(from: Data(units.launchdPlist.utf8), format: nil) as? [String: Any]
        #expect(plist?["Label"] as? String == "com.plantocode.ptc-backup.nightly")
        #expect(plist?["ProgramArguments"] as? [String] == ["/usr/local/bin/ptc-backup", "run", "nightly", "--quiet", "--config", "/Users/ana/my config.toml"])
        let interval = plist?["StartCalendarInterval"] as? [String: Int]
        #expect(interval == ["Minute": 5, "Hour": 4, "Weekday": 1])
        #expect(units.crontabLine == "5 4 * * 1 /usr/local/bin/ptc-backup run nightly --quiet --config '/Users/ana/my config.toml'")
        #expect(units.service.contains("ExecStart=/usr/local/bin/ptc-backup run nightly --quiet --config \"/Users/ana/my config.toml\""))
        #expect(try ScheduleTime(every: "hourly", at: "00:20").onCalendar == "*-*-* *:20:00")
        #expect(throws: BackupError.self) { try ScheduleTime(every: "daily", at: "25:00") }
    }
}
