import Synchronization

/// The bytes a piece of work's transfers move, for a progress display. Work run inside
/// ``observe(_:_:)`` has every transfer it performs on its thread (a request's body either way, through
/// curl's progress callback, the one ``TransferCancellation`` uses) tell the observer how many bytes it
/// has sent and received since it began. Each transfer has its own number: a retried request starts
/// again from 0 under a new one.
public enum TransferProgress {
    /// Told `(transfer, sent, received)`, on the transferring thread; keep it cheap.
    public typealias Observer = @Sendable (_ transfer: Int, _ sent: Int64, _ received: Int64) -> Void

    @TaskLocal static var observer: Observer?

    private static let counter = Atomic<Int>(0)

    /// A new transfer's number.
    static func nextTransfer() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Runs `body` with `observer` hearing the bytes of each transfer performed inside it on this thread.
    public static func observe<T>(_ observer: Observer?, _ body: () throws -> T) rethrows -> T {
        try $observer.withValue(observer) { try body() }
    }
}
