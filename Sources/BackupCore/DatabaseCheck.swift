import BackupModel

/// ``Verifier/checkDatabase(_:manifest:problems:)`` of an extracted archive database, on its own thread:
/// an import starts it as soon as the database is extracted and waits for it only before its first write
/// to the copy, or before it commits.
struct DatabaseCheck: Sendable {
    private let task: BackgroundTask<(problems: [String], tables: [Manifest.Table])>
    private let archive: String

    init(verifier: Verifier, database: String, manifest: Manifest, archive: String) {
        self.archive = archive
        task = BackgroundTask {
            var problems: [String] = []
            let tables = verifier.checkDatabase(database, manifest: manifest, problems: &problems)
            return (problems, tables)
        }
    }

    /// Waits for the check; returns the database's row counts.
    /// - Throws: ``BackupError`` `dataError` naming the problems found.
    func wait() throws -> [Manifest.Table] {
        let result = try task.wait()
        guard result.problems.isEmpty else { throw Importer.failedVerification(archive, result.problems) }
        return result.tables
    }
}
