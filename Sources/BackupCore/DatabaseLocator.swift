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
    ///
    /// A restore may fill an empty file (SQLite reads a 0-byte file as an empty database); a merge adds
    /// to a PlanToCode database, which an empty file is not.
    /// - Parameter merging: the import merges into the target (an empty file is then refused).
    /// - Throws: ``BackupError`` `noInput` when nothing names or finds one, or it is a folder; `dataError`
    ///   for an empty file when `merging`.
    public func locateTarget(explicit: String?, merging: Bool = false) throws -> String {
        let target: String
        if let explicit, !explicit.isEmpty {
            target = explicit
        } else if let fromEnvironment = environment["PLANTOCODE_DB"], !fromEnvironment.isEmpty {
            target = fromEnvironment
        } else if let found = defaultCandidates.first(where: FileSystem.exists) {
            target = found
        } else {
            throw BackupError(.noInput, "no PlanToCode database found (looked in \(defaultCandidates.joined(separator: ", "))); pass --db PATH to restore into a new file")
        }
        if FileSystem.isDirectory(target) {
            throw Self.isAFolder(target, doing: "importing into the database")
        }
        if merging, !FileSystem.exists(target) {
            throw BackupError(.noInput, "no database at \(target); use --mode restore to create one")
        }
        if merging, FileSystem.size(of: target) == 0 {
            throw BackupError(.dataError, "merging into the database: \(target) is an empty file, not a PlanToCode database; use --mode restore to fill it")
        }
        return target
    }

    /// The database path to use.
    /// - Throws: ``BackupError`` `noInput` naming every place looked at when there is none.
    ///
    /// What is found must be able to hold a database: a folder is `noInput` ("is a folder"), an empty
    /// file `dataError` (SQLite would read it as an empty database and export nothing).
    public func locate(explicit: String?) throws -> String {
        let path: String
        if let explicit, !explicit.isEmpty {
            guard FileSystem.exists(explicit) else {
                throw BackupError(.noInput, "database not found: \(explicit) does not exist")
            }
            path = explicit
        } else if let fromEnvironment = environment["PLANTOCODE_DB"], !fromEnvironment.isEmpty {
            guard FileSystem.exists(fromEnvironment) else {
                throw BackupError(.noInput, "database not found: \(fromEnvironment) (from PLANTOCODE_DB) does not exist")
            }
            path = fromEnvironment
        } else if let found = defaultCandidates.first(where: FileSystem.exists) {
            path = found
        } else {
            throw BackupError(.noInput, "no PlanToCode database found (looked in \(defaultCandidates.joined(separator: ", "))); pass --db PATH or set PLANTOCODE_DB")
        }
        if FileSystem.isDirectory(path) {
            throw Self.isAFolder(path, doing: "opening the database")
        }
        if FileSystem.size(of: path) == 0 {
            throw BackupError(.dataError, "opening the database: \(path) is an empty file, not a PlanToCode database")
        }
        return path
    }

    private static func isAFolder(_ path: String, doing: String) -> BackupError {
        let inside = (path as NSString).appendingPathComponent("appdata.db")
        return BackupError(.noInput, "\(doing): \(path) is a folder, not a database file (the app's is \(inside))")
    }
}
