/// One progress report of a long operation: what it is doing now and how many bytes of it are done.
///
/// `done` and `total` are bytes (SQLite's pages are reported as pages × page size). `total` is nil
/// while the work's size is unknown (a check that reads as far as it needs, a transfer whose size is not
/// known yet): a display then shows the bytes done without a percentage.
public struct ProgressEvent: Sendable, Equatable {
    /// What is happening, in the words a user would use for it.
    public enum Phase: String, Sendable, CaseIterable {
        /// Copying the live database into a snapshot (SQLite's online backup, or the selected rows).
        case snapshot
        /// Compressing the snapshot into the archive (in a one-pass export, while the snapshot is taken).
        case compress
        /// Checking a database that was written or extracted (`quick_check`/`integrity_check`, row counts, SHA-256).
        case check
        /// Decompressing an archive and comparing its entries' SHA-256 with the manifest.
        case verify
        /// Copying an archive's database into the target (`import --mode restore`).
        case restore
        /// Adding an archive's sessions to the target in one transaction (`import --mode merge`).
        case merge
        /// Sending an archive to a remote.
        case upload
        /// Receiving an archive from a remote.
        case download
    }

    public var phase: Phase
    /// Bytes done in this phase.
    public var done: Int64
    /// Bytes this phase will take, nil when not known.
    public var total: Int64?

    public init(phase: Phase, done: Int64, total: Int64?) {
        self.phase = phase
        self.done = done
        self.total = total
    }

    /// A phase whose size is not known, just begun (a display shows it as busy).
    public static func started(_ phase: Phase) -> ProgressEvent {
        ProgressEvent(phase: phase, done: 0, total: nil)
    }
}

/// Receives progress. Called on the thread doing the work; keep it cheap.
public typealias ProgressHandler = @Sendable (ProgressEvent) -> Void
