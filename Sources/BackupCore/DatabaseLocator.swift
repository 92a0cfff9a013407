import Foundation

/// Finds PlanToCode's `appdata.db`: an explicit `--db`, then `PLANTOCODE_DB`, then the app's
/// data directories (SPEC.md): `$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application
/// Support` on macOS, each with `plantocode` and then `com.plantocode`.
public struct DatabaseLocator: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The directories searched, in order, when neither `--db` nor `PLANTOCODE_DB` is given.
    public var defaultCandidates: [String] {
        var bases: [String] = []
        let home = environment["HOME"] ?? NSHomeDirectory()
        #if os(macOS)
        bases.append((home as NSString).appendingPathComponent("Library/Application Support"))
        #else
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty, xdg.hasPrefix("/") {
            bases.append(xdg)
        } else {
            bases.append((home as NSString).appendingPathComponent(".local/share"))
        }
        #endif
        return bases.flatMap { base in
            ["plantocode", "com.plantocode"].map { ((base as NSString).appendingPathComponent($0) as NSString).appendingPathComponent("appdata.db") }
        }
    }

    /// The database an import writes to: `--db` or `PLANTOCODE_DB` as given (it may not exist yet,
    /// and is then created), else an existing database in the default locations.
    /// - Throws: ``BackupError`` `noInput` when nothing names or finds one.
    public func locateTarget(explicit: String?) throws -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["PLANTOCODE_DB"], !fromEnvironment.isEmpty { return fromEnvironment }
        if let found = defaultCandidates.first(where: FileSystem.exists) { return found }
        throw BackupError(.noInput, "no PlanToCode database found (looked in \(defaultCandidates.joined(separator: ", "))); pass --db PATH to restore into a new file")
    }

    /// The database path to use.
    /// - Throws: ``BackupError`` `noInput` naming every place looked at when there is none.
    public func locate(explicit: String?) throws -> String {
        if let explicit, !explicit.isEmpty {
            guard FileSystem.exists(explicit) else {
                throw BackupError(.noInput, "database not found: \(explicit) does not exist")
            }
            return explicit
        }
        if let fromEnvironment = environment["PLANTOCODE_DB"], !fromEnvironment.isEmpty {
            guard FileSystem.exists(fromEnvironment) else {
                throw BackupError(.noInput, "database not found: \(fromEnvironment) (from PLANTOCODE_DB) does not exist")
            }
            return fromEnvironment
        }
        let candidates = defaultCandidates
        if let found = candidates.first(where: FileSystem.exists) { return found }
        throw BackupError(.noInput, "no PlanToCode database found (looked in \(candidates.joined(separator: ", "))); pass --db PATH or set PLANTOCODE_DB")
    }
}
