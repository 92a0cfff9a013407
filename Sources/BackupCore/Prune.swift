import BackupModel
import BackupRetention
import BackupStore
import Foundation

/// What `prune` should do.
public struct PruneOptions: Sendable {
    /// The rules (``RetentionPolicy``); an empty policy is refused.
    public var policy: RetentionPolicy
    /// `--kind`, `--host`: which archives are looked at (by default every kind but `cleanup`).
    public var selection = RetentionSelection()
    /// Decide and report, change nothing.
    public var dryRun = false
    /// Leftovers last written before `now - staleAfter` are removed.
    public var now = Date()
    public var staleAfter: TimeInterval = 24 * 3600
    /// How to reach a remote; `onRetry` hears of every retry.
    public var remote = RemoteOptions()
    /// `--lock-wait`: how long to wait for the locks another run holds (``BackupLock``).
    public var lockWait: Duration = .zero

    public init(policy: RetentionPolicy) {
        self.policy = policy
    }
}

/// A prune's report, and the failure that stopped it halfway when one did: the report then says which
/// archives were deleted before it; every other archive is intact.
public struct PruneOutcome: Sendable {
    public var report: PruneReport
    public var failure: BackupError?
}

/// Retention over a local folder, a WebDAV folder or an S3 prefix: lists the names (an archive's time is the
/// one in its name: nothing is downloaded), decides with ``Retention`` (restic's forget rules, per host and
/// kind), deletes the archives that go one by one (oldest first), then removes this tool's leftovers older
/// than a day: hidden `.NAME.part-*` uploads, an export's or download's `.NAME.tmp-*`/`.snapshot-*`/
/// `.download-*` files whose process is gone, and S3 multipart uploads never completed.
public struct Pruner: Sendable {
    public init() {}

    /// - Parameters:
    ///   - location: a folder, `webdav+http(s)://host/path/` or `s3://bucket/prefix/`.
    /// - Returns: the report, with the failure that stopped the deletions if one did.
    /// - Throws: ``BackupError`` before anything is deleted: `usage` for an empty policy or a location that
    ///   names an archive, `noInput` for a missing folder, a store's failure to list.
    public func prune(_ location: String, options: PruneOptions,
                      environment: [String: String] = ProcessInfo.processInfo.environment) throws(BackupError) -> PruneOutcome {
        try BackupError.atBoundary("pruning \(location)") {
            guard !options.policy.isEmpty else {
                throw BackupError.usage("prune needs at least one --keep-* rule (--keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within): it never deletes everything")
            }
            let store: any RemoteStore
            var localFolder: String?
            var remoteLock: RemoteLock?
            defer { remoteLock?.release() }
            if RemoteLocation.isRemote(location) {
                let parsed = try RemoteLocation(parsing: location, options: options.remote, environment: environment)
                guard parsed.objectName == nil else {
                    throw BackupError.usage("\(location) names an archive; prune takes the folder that holds the archives")
                }
                store = RetryingStore(parsed.store, onRetry: options.remote.onRetry)
                remoteLock = try options.dryRun ? nil : RemoteLock.acquire(location, options: options.remote, command: "prune", wait: options.lockWait, environment: environment)
            } else {
                guard FileSystem.isDirectory(location) else {
                    throw BackupError(.noInput, "folder not found: \(location) does not exist or is not a folder")
                }
                store = LocalStore(root: location)
                localFolder = location
            }
            let lock = try options.dryRun ? nil : localFolder.map { try BackupLock.acquire([.folder($0)], command: "prune", wait: options.lockWait) }
            defer { lock?.release() }
            return try prune(store, localFolder: localFolder, options: options)
        }
    }

    /// Prunes `store`; `localFolder`, when the store is that folder, also has its stale process temporaries removed.
    func prune(_ store: any RemoteStore, localFolder: String?, options: PruneOptions) throws -> PruneOutcome {
        guard !options.policy.isEmpty else { throw BackupError.usage("prune needs at least one --keep-* rule") }
        let objects = try Transfers.mapped { try store.list(prefix: "") }
        let sizes = Dictionary(objects.map { ($0.name, $0.size) }, uniquingKeysWith: { first, _ in first })
        let plan = Retention.plan(fileNames: objects.map(\.name).filter { !RemoteLock.isLockName($0) }, policy: options.policy, selection: options.selection)
        var report = PruneReport(
            location: "\(store)", policy: options.policy.description, dryRun: options.dryRun,
            archives: plan.decisions.map { decision in
                PruneReport.Archive(name: decision.fileName, host: decision.name.host, kind: decision.name.kind,
                                    time: Timestamp.iso8601(seconds: decision.name.seconds), bytes: sizes[decision.fileName] ?? 0,
                                    keep: decision.keep, reasons: decision.reasons, deleted: false)
            },
            ignored: plan.ignored.map { PruneReport.Ignored(name: $0.name, reason: $0.reason) },
            leftovers: [])

        // Leftovers: the store's (hidden uploads, S3 multipart uploads), and in a local folder the
        // temporaries of runs of this tool that are gone.
        let cutoff = options.now.addingTimeInterval(-options.staleAfter)
        let storeLeftovers = try Transfers.mapped { try store.leftovers() }.filter { ($0.since ?? .distantFuture) < cutoff }
        let processLeftovers = localFolder.map { TemporaryFiles.stale(in: $0, before: cutoff) } ?? []
        report.leftovers = storeLeftovers.map { leftover in
            let kind = if case .multipartUpload = leftover.kind { "multipartUpload" } else { "temporary" }
            return PruneReport.Leftover(name: leftover.name, kind: kind, bytes: leftover.bytes,
                                        since: leftover.since.map { Timestamp.iso8601(seconds: Int64($0.timeIntervalSince1970)) },
                                        removed: false)
        } + processLeftovers.map {
            PruneReport.Leftover(name: $0.name, kind: "temporary", bytes: $0.bytes,
                                 since: Timestamp.iso8601(seconds: Int64($0.modified.timeIntervalSince1970)), removed: false)
        }
        guard !options.dryRun else { return PruneOutcome(report: report, failure: nil) }

        // Oldest first, one at a time: a failure leaves the newer archives, and says what went.
        let order = report.archives.indices.filter { !report.archives[$0].keep }
            .sorted { (report.archives[$0].time, report.archives[$0].name) < (report.archives[$1].time, report.archives[$1].name) }
        for index in order {
            do {
                try Transfers.mapped { try store.delete(report.archives[index].name) }
                report.archives[index].deleted = true
            } catch {
                return Self.stopped(report, error, doing: "deleting \(report.archives[index].name) from \(store)")
            }
        }
        for (index, leftover) in storeLeftovers.enumerated() {
            do {
                try Transfers.mapped { try store.remove(leftover) }
                report.leftovers[index].removed = true
            } catch {
                return Self.stopped(report, error, doing: "removing the leftover \(leftover.name) from \(store)")
            }
        }
        for (offset, leftover) in processLeftovers.enumerated() {
            let index = storeLeftovers.count + offset
            do {
                try FileManager.default.removeItem(atPath: leftover.path)
                report.leftovers[index].removed = true
            } catch {
                let failure = BackupError(.ioError, "cannot remove \(leftover.path): \((error as NSError).localizedDescription)", cause: nil)
                return Self.stopped(report, failure, doing: "removing the leftover \(leftover.name)")
            }
        }
        return PruneOutcome(report: report, failure: nil)
    }

    /// The report of a run stopped by `error`, whose message says which archives were deleted before it.
    private static func stopped(_ report: PruneReport, _ error: any Error, doing: String) -> PruneOutcome {
        let cause = error as? BackupError ?? BackupError(.ioError, "\(doing): \(error)")
        let deleted = report.archives.filter(\.deleted).map(\.name)
        let left = report.archives.filter { !$0.keep && !$0.deleted }.count
        let said = deleted.isEmpty ? "nothing was deleted" : "deleted before it: \(deleted.joined(separator: ", "))"
        let message = "\(cause.message); \(said); \(left) archive\(left == 1 ? "" : "s") to remove left intact"
        var report = report
        let failure = BackupError(cause.code, message, cause: cause)
        report.stoppedBy = failure.message
        return PruneOutcome(report: report, failure: failure)
    }
}
