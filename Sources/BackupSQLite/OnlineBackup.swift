import CSQLite

/// Progress of an online backup: pages copied so far out of the source's page count.
public struct BackupProgress: Sendable, Equatable {
    public let copiedPages: Int
    public let totalPages: Int
    public let steps: Int
}

extension Connection {
    /// Copies this database's `main` into `destination`'s `main` with the SQLite online backup API.
    ///
    /// The corresponding C functions are [`sqlite3_backup_init`, `_step`, `_finish`](https://sqlite.org/backup.html).
    /// `backup_finish` is always called, whatever happens.
    ///
    /// With `pagesPerStep` = -1 the copy takes one step under one read transaction. With a positive
    /// value, open a read transaction on this connection first (``withReadTransaction(_:)``): otherwise
    /// every commit by another connection restarts the copy, which can go on forever while the app writes.
    /// - Parameters:
    ///   - destination: the connection written to; it must not be used by anyone else meanwhile.
    ///   - pagesPerStep: pages per `sqlite3_backup_step`, or -1 for all at once.
    ///   - progress: called after each step.
    ///   - beforeFinalStep: called once, just before the step that will copy the last pages and commit
    ///     the destination; throwing from it abandons the backup, and the destination is rolled back.
    /// - Throws: ``SQLiteError``, or what the closures throw.
    public func backup(to destination: Connection, pagesPerStep: Int32 = -1,
                       progress: (BackupProgress) throws -> Void = { _ in },
                       beforeFinalStep: (() throws -> Void)? = nil) throws {
        guard let backup = sqlite3_backup_init(destination.db, "main", db, "main") else {
            throw SQLiteError(code: sqlite3_extended_errcode(destination.db), db: destination.db,
                              context: "starting the online backup of \(path)")
        }
        var finished = false
        defer { if !finished { sqlite3_backup_finish(backup) } }
        var steps = 0
        // A lock held by another connection is waited out as long as the longer of the two connections'
        // busy timeouts (`--busy-timeout`), counted from the first step that found it.
        let patience = Duration.milliseconds(max(busyTimeout, destination.busyTimeout))
        var busySince: ContinuousClock.Instant?
        var gate = beforeFinalStep
        var startedCode: Int32?
        if gate != nil {
            // A step of no pages starts the copy and learns the page count, so that the final step is known.
            let rc = sqlite3_backup_step(backup, 0)
            guard rc == SQLITE_OK || rc == SQLITE_DONE else {
                throw SQLiteError(code: rc, db: destination.db, context: "starting the online backup of \(path)")
            }
            if rc == SQLITE_DONE { startedCode = rc } // an empty source: nothing to copy
        }
        while true {
            if let pending = gate, startedCode != nil || pagesPerStep < 0 || Int(sqlite3_backup_remaining(backup)) <= Int(pagesPerStep) {
                try pending()
                gate = nil
            }
            let rc = startedCode ?? sqlite3_backup_step(backup, pagesPerStep)
            startedCode = nil
            steps += 1
            let total = Int(sqlite3_backup_pagecount(backup))
            let remaining = Int(sqlite3_backup_remaining(backup))
            switch rc {
            case SQLITE_OK, SQLITE_DONE:
                busySince = nil
                try progress(BackupProgress(copiedPages: total - remaining, totalPages: total, steps: steps))
                if rc == SQLITE_DONE {
                    finished = true
                    let finishCode = sqlite3_backup_finish(backup)
                    guard finishCode == SQLITE_OK else {
                        throw SQLiteError(code: finishCode, db: destination.db, context: "finishing the online backup of \(path)")
                    }
                    return
                }
            case SQLITE_BUSY, SQLITE_LOCKED:
                // The destination or source is locked by someone else: wait a little and try again.
                let since = busySince ?? ContinuousClock.now
                busySince = since
                if ContinuousClock.now - since >= patience {
                    throw SQLiteError(code: rc, message: "database is locked", context: "copying \(path) with the online backup API")
                }
                sqlite3_sleep(10)
            default:
                throw SQLiteError(code: rc, db: destination.db, context: "copying \(path) with the online backup API")
            }
        }
    }

    /// Runs `body` inside a read transaction (`BEGIN` then a read of the schema), so everything
    /// it reads through this connection is one point in time. Ends with `COMMIT` (nothing was written).
    public func withReadTransaction<R>(_ body: () throws -> R) throws -> R {
        var result: R?
        try inTransaction(.deferred) {
            _ = try scalar("SELECT count(*) FROM sqlite_schema")
            result = try body()
            return .commit
        }
        return result!
    }
}
