/// One progress report of a long operation: a phase and its done/total units (bytes or pages).
public struct ProgressEvent: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case snapshot, check, hash, pack, read, verify
    }

    public var phase: Phase
    public var done: Int64
    public var total: Int64

    public init(phase: Phase, done: Int64, total: Int64) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}

/// Receives progress. Called on the thread doing the work; keep it cheap.
public typealias ProgressHandler = @Sendable (ProgressEvent) -> Void
