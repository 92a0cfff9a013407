import BackupModel
import BackupSQLite
import Logging

/// `migrate`: brings a database to the current schema in place, after saving it as an archive.
public struct DatabaseMigration: Sendable {
    public var logger: Logger

    public init(logger: Logger = Logger(label: "ptc-backup.migrate", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.logger = logger
    }

    /// - Throws: ``BackupError``; on failure the database is unchanged (one transaction).
    public func run(databasePath: String?, dryRun: Bool = false, options: ImportOptions) throws(BackupError) -> MigrateReport {
        try BackupError.atBoundary("migrating") {
            let path = try DatabaseLocator(environment: options.environment).locate(explicit: databasePath)
            let lock = try dryRun ? nil : BackupLock.acquire([.database(path)], command: "migrate", wait: options.lockWait)
            defer { lock?.release() }
            let plan: Migrator.Plan
            do {
                let db = try Connection(path: path, mode: .readOnly, busyTimeout: options.busyTimeout)
                plan = try Migrator.plan(db)
                try db.close()
            } catch {
                throw BackupError.sqlite(error, "reading the database", path: path)
            }
            var report = MigrateReport(database: path, applied: plan.steps, notApplicable: [], safetyArchive: nil, dryRun: dryRun)
            guard !plan.isCurrent, !dryRun else { return report }
            report.safetyArchive = try Importer(logger: logger).saveSafetyArchive(of: path, reason: "before-migrate", options: options)
            do {
                let db = try Connection(path: path, mode: .readWrite, busyTimeout: options.busyTimeout)
                try db.inTransaction(.immediate) {
                    report.applied = try Migrator.apply(db, now: options.now)
                    return .commit
                }
                try db.close()
            } catch let error as SQLiteError {
                throw BackupError.sqlite(error, "migrating", path: path)
            }
            return report
        }
    }
}
