import BackupArchive
import BackupDigest
import BackupModel
import BackupSQLite
import Foundation
import Logging
import SystemPackage

/// Proves an archive complete: every entry's size and SHA-256 against the manifest, full
/// decompression, `integrity_check` and `foreign_key_check` of the database, and its row counts
/// against the manifest. Extraction goes only into a private temporary folder, which is removed.
public struct Verifier: Sendable {
    public var logger: Logger
    public var progress: ProgressHandler?
    /// Where the private extraction folder is made; the system's temporary folder by default.
    public var temporaryDirectory: String
    /// What opens encrypted archives (`--identity`, `--passphrase`).
    public var keys = ArchiveKeys.none

    public init(logger: Logger = Logger(label: "ptc-backup.verify", factory: { _ in SwiftLogNoOpLogHandler() }),
                progress: ProgressHandler? = nil,
                temporaryDirectory: String = FileManager.default.temporaryDirectory.path) {
        self.logger = logger
        self.progress = progress
        self.temporaryDirectory = temporaryDirectory
    }

    /// The result of a verification: the manifest (when readable) and every problem found.
    public struct Outcome: Sendable {
        public var manifest: Manifest
        public var problems: [String]
        /// Row counts found in the archive's database.
        public var tables: [Manifest.Table]
        /// The extracted database, when ``extract(_:into:)`` kept it and it passed every check.
        public var databasePath: String?
        public var ok: Bool { problems.isEmpty }
    }

    /// Verifies the archive at `path`; nothing extracted outlives the call.
    /// - Throws: ``BackupError`` when the archive cannot be opened or its manifest read (`noInput`,
    ///   `dataError`); problems found after that are returned in the outcome, not thrown.
    public func verify(_ path: String) throws(BackupError) -> Outcome {
        try BackupError.atBoundary("verifying") {
            let workspace = try makeWorkspace()
            defer { withExtendedLifetime(workspace) {} }
            var outcome = try extract(path, into: workspace.path)
            outcome.databasePath = nil
            return outcome
        }
    }

    /// Verifies the archive at `path` and leaves its database, when everything checks out, in
    /// `workspace` (a private folder the caller owns and removes): `outcome.databasePath`.
    /// - Throws: as ``verify(_:)``.
    public func extract(_ path: String, into workspace: String) throws -> Outcome {
        var outcome = try extractEntries(path, into: workspace)
        if let database = outcome.databasePath {
            outcome.tables = checkDatabase(database, manifest: outcome.manifest, problems: &outcome.problems)
            if !outcome.ok { outcome.databasePath = nil }
        }
        logger.info("verified", metadata: ["archive.path": "\(path)", "verify.problems": "\(outcome.problems.count)"])
        return outcome
    }

    /// The first half of ``extract(_:into:)``: every entry's size and SHA-256, the database written to
    /// `workspace`. The database itself is not checked yet: call ``checkDatabase(_:manifest:problems:)``
    /// before trusting it (an import runs that check while it works, and commits only if it passes).
    public func extractEntries(_ path: String, into workspace: String) throws -> Outcome {
        let (reader, manifest) = try ArchiveContents.open(path, keys: keys)
        defer { reader.close() }
        if let outcome = try extractSeekable(path, manifest: manifest, into: workspace) { return outcome }

        var problems: [String] = []
        var seen: Set<String> = []
        var databasePath: String?
        let expected = Dictionary(manifest.entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let totalBytes = manifest.entries.reduce(0) { $0 + $1.size }
        var doneBytes: Int64 = 0
        // Only the database is written out; refuse before writing anything when it cannot fit.
        if let declared = manifest.entries.first(where: { $0.path == Manifest.databaseEntryName })?.size,
           let free = FileSystem.freeBytes(at: workspace), declared > free {
            throw BackupError(.ioError, "\(path) holds a database of \(ByteCount.text(declared)), but only \(ByteCount.text(free)) are free in \(temporaryDirectory); free some space or pass --tmp-dir")
        }

        while true {
            let header: ArchiveEntryHeader
            do {
                guard let next = try reader.nextEntry() else { break }
                header = next
            } catch {
                problems.append("the archive is damaged or truncated after \(seen.count + 1) entries: \(error.message)")
                break
            }
            if let reason = ArchiveContents.unsafeReason(header.path) {
                problems.append("entry '\(header.path)' has \(reason); refused")
                continue
            }
            guard header.kind == .regular else {
                problems.append("entry '\(header.path)' is a \(header.kind), not a regular file; refused")
                continue
            }
            guard let entry = expected[header.path] else {
                problems.append("entry '\(header.path)' is not listed in the manifest")
                continue
            }
            guard seen.insert(header.path).inserted else {
                problems.append("entry '\(header.path)' appears more than once")
                continue
            }
            if let declared = header.size, declared != entry.size {
                problems.append("entry '\(header.path)' declares \(declared) bytes, the manifest says \(entry.size)")
                continue
            }
            // Only the database is written out (to check it with SQLite); other entries are hashed.
            let isDatabase = header.path == Manifest.databaseEntryName
            let outPath = (workspace as NSString).appendingPathComponent("entry-\(seen.count).bin")
            let output: FileDescriptor? = isDatabase ? try FileSystem.createExclusive(outPath, doing: "extracting the database") : nil
            defer { try? output?.close() }
            // Hashing runs on its own thread while the next chunks are decompressed and written.
            let pipe = HashingPipe()
            var size: Int64 = 0
            var oversized = false
            do {
                while true {
                    let n = try pipe.fill { buffer in
                        let n = try reader.read(into: buffer)
                        guard n > 0 else { return 0 }
                        size += Int64(n)
                        guard size <= entry.size else {
                            oversized = true
                            return 0
                        }
                        if let output { try FileSystem.write(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: outPath, doing: "extracting the database") }
                        return n
                    }
                    if n == 0 { break }
                    doneBytes += Int64(n)
                    progress?(ProgressEvent(phase: .verify, done: doneBytes, total: totalBytes))
                }
            } catch let error as ArchiveError {
                _ = pipe.finish()
                problems.append("entry '\(header.path)' cannot be decompressed: \(error.message)")
                break
            }
            let digest = pipe.finish()
            if oversized {
                problems.append("entry '\(header.path)' holds more than the \(entry.size) bytes the manifest says; refused")
                continue
            }
            if size != entry.size {
                problems.append("entry '\(header.path)' has \(size) bytes, the manifest says \(entry.size)")
            } else if digest != entry.sha256 {
                problems.append("entry '\(header.path)' has SHA-256 \(digest), the manifest says \(entry.sha256)")
            } else if isDatabase {
                databasePath = outPath
            }
        }
        for entry in manifest.entries where !seen.contains(entry.path) && !problems.contains(where: { $0.contains("'\(entry.path)'") }) {
            problems.append("entry '\(entry.path)' listed in the manifest is missing from the archive")
        }
        if databasePath == nil && !manifest.entries.contains(where: { $0.path == Manifest.databaseEntryName }) {
            problems.append("the manifest lists no \(Manifest.databaseEntryName)")
        }
        if problems.isEmpty {
            // An encrypted archive is read to its very end, past the tar trailer: the final chunk and
            // nothing after it are part of the proof.
            do {
                try reader.drainSource()
            } catch {
                problems.append("the archive's encryption does not check out at its end: \(error.message)")
            }
        }
        return Outcome(manifest: manifest, problems: problems, tables: [], databasePath: problems.isEmpty ? databasePath : nil)
    }

    /// `integrity_check`, `foreign_key_check`, and row counts against the manifest, of the database at
    /// `path`; appends what is wrong to `problems` and returns the row counts found.
    public func checkDatabase(_ path: String, manifest: Manifest, problems: inout [String]) -> [Manifest.Table] {
        do {
            let db = try Connection(path: path, mode: .readOnly)
            defer { try? db.close() }
            progress?(.started(.check))
            let integrity = try db.rows("PRAGMA integrity_check(20)").compactMap { $0.first?.string }
            if integrity != ["ok"] {
                problems.append("the database fails integrity_check: \(integrity.prefix(3).joined(separator: "; "))")
            }
            // The source's own orphans travel as they were; only violations the manifest does not
            // declare mean the archive is not what was exported.
            let undeclared = try DatabaseFacts.foreignKeyViolations(db).filter {
                $0.rows > manifest.declaredViolations(of: $0.table, parent: $0.parent)
            }
            if !undeclared.isEmpty {
                let detail = undeclared.map { "\($0.table) → \($0.parent): \($0.rows) (manifest declares \(manifest.declaredViolations(of: $0.table, parent: $0.parent)))" }
                problems.append("the database has rows whose parent row is missing that the manifest does not declare: \(detail.joined(separator: "; "))")
            }
            let facts = try DatabaseFacts(connection: db)
            let tables = try DatabaseFacts.rowCounts(db, tables: facts.tables)
            let found = Dictionary(tables.map { ($0.name, $0.rows) }, uniquingKeysWith: { a, _ in a })
            for table in manifest.tables {
                if let rows = found[table.name] {
                    if rows != table.rows { problems.append("table \(table.name) has \(rows) rows, the manifest says \(table.rows)") }
                } else {
                    problems.append("table \(table.name) listed in the manifest is missing from the database")
                }
            }
            for table in tables where manifest.rows(of: table.name) == nil {
                problems.append("table \(table.name) is in the database but not in the manifest")
            }
            // The sessions the manifest lists (what inspect and list show) are exactly those inside.
            if facts.hasTable("sessions") {
                let inside = Set(try db.rows("SELECT id FROM sessions").compactMap { $0[0].string })
                let listed = Set(manifest.sessions.map(\.id))
                let missing = listed.subtracting(inside).sorted(), extra = inside.subtracting(listed).sorted()
                if !missing.isEmpty {
                    problems.append("\(missing.count) session(s) listed in the manifest are not in the database (first: \(missing[0]))")
                }
                if !extra.isEmpty {
                    problems.append("the database holds \(extra.count) session(s) the manifest does not list (first: \(extra[0]))")
                }
            } else if !manifest.sessions.isEmpty {
                problems.append("the manifest lists \(manifest.sessions.count) session(s) but the database has no sessions table")
            }
            return tables
        } catch {
            problems.append("the database cannot be read: \(error)")
            return []
        }
    }

    /// A new private (0700) folder under ``temporaryDirectory``, removed when the value goes away (and by
    /// an interrupted run's signal handler, or by the next run after a kill).
    public func makeWorkspace() throws -> TemporaryFolder {
        // Stamped with the process id, so that a later run can tell a dead run's folder from a live one's.
        TemporaryFiles.removeStale(in: temporaryDirectory)
        return try TemporaryFolder(in: temporaryDirectory, prefix: "ptc-backup-verify")
    }
}
