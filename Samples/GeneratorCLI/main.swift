import ArgumentParser
import Foundation
import PlanToCodeSchema
import SampleGenerator

/// `ptc-sample`: writes a realistic PlanToCode database for demos, tests and benchmarks.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ptc-sample",
        abstract: "Generate a realistic PlanToCode appdata.db.",
        discussion: """
            Examples:
              ptc-sample /tmp/appdata.db --size 5MB
              ptc-sample /tmp/old.db --app-version 1.0.0 --size 1GB --wal-commits 20
              ptc-sample /tmp/may.db --era 2025-05-14 --orphans 3

            Eras (the table sets of databases created by each range of the app's versions, SPEC.md):
              \(SchemaCatalog.eras.map(\.created).joined(separator: ", "))
            """)

    @Argument(help: "Where to write the database (must not exist).")
    var path: String?

    @Flag(help: "Print the schema eras, one per line, and exit.")
    var listEras = false

    @Option(help: "App version of the schema: 1.0.0, 1.0.10, current, or upgraded-1.0.0.")
    var appVersion = "current"

    @Option(help: "Create the database of a schema era instead (its first version's date, e.g. 2025-06-08).")
    var era: String?

    @Option(help: "Also write N rows that break their foreign keys (jobs of a missing session, and more).")
    var orphans = 0

    @Option(help: "Approximate size of the content, like 2MB, 100MB, 1GB.")
    var size = "2MB"

    @Option(help: "Random seed; the same seed gives the same content.")
    var seed: UInt64 = 1

    @Option(help: "Leave the last N commits only in the -wal file.")
    var walCommits = 0

    func validate() throws {
        if path == nil && !listEras { throw ValidationError("missing the path of the database to write") }
    }

    func run() throws {
        if listEras {
            for era in SchemaCatalog.eras { print(era.created) }
            return
        }
        guard let path else { return }
        var options = SampleGenerator.Options()
        switch appVersion {
        case "1.0.0": options.version = SchemaCatalog.v1_0_0
        case "1.0.10": options.version = SchemaCatalog.v1_0_10
        case "current", SchemaCatalog.current.appVersion: options.version = SchemaCatalog.current
        case "upgraded-1.0.0": options.version = SchemaCatalog.upgradedFrom1_0_0
        default: throw ValidationError("unknown --app-version '\(appVersion)': use 1.0.0, 1.0.10, current or upgraded-1.0.0")
        }
        if let era {
            guard let found = SchemaCatalog.eras.first(where: { $0.created == era }) else {
                throw ValidationError("unknown --era '\(era)': use one of \(SchemaCatalog.eras.map(\.created).joined(separator: ", "))")
            }
            options.era = found
        }
        options.orphans = orphans
        guard let bytes = Self.parseSize(size) else { throw ValidationError("invalid --size '\(size)': use a number and KB, MB or GB") }
        options.targetBytes = bytes
        options.seed = seed
        options.walOnlyCommits = walCommits
        let summary = try SampleGenerator.generate(at: path, options: options)
        print("\(path): \(summary.sessionIDs.count) sessions, \(summary.contentBytes) bytes of content, \(summary.walOnlySessionIDs.count) commits only in the WAL")
    }

    static func parseSize(_ text: String) -> Int64? {
        let upper = text.uppercased()
        for (suffix, factor) in [("GIB", Int64(1) << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)] where upper.hasSuffix(suffix) {
            return Double(upper.dropLast(suffix.count)).map { Int64($0 * Double(factor)) }
        }
        return Int64(upper)
    }
}

SampleCommand.main()
