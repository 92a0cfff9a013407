import CBackupShims
import CSQLite

/// Reports the writes SQLite makes to one database file, through the pass-through VFS `ptc-tee`
/// (see `CBackupShims.h`). Open the connection with `vfs: WriteWatch.vfsName` after creating the
/// watch, and keep the watch until that connection is closed. Events arrive on the thread that makes
/// SQLite write. Up to 16 watches at once per process.
///
/// `@unchecked Sendable`: the C callback (on SQLite's thread) reads only the immutable `handler`; the
/// watch's slot is set in `init` and cleared by `stop()`, which its owner calls from one thread.
public final class WriteWatch: @unchecked Sendable {
    public enum Event: Sendable, Equatable {
        /// `length` bytes were written at `offset`.
        case write(offset: Int64, length: Int64)
        /// The file was truncated to `size` bytes.
        case truncate(size: Int64)
    }

    public static let vfsName = "ptc-tee"
    private let handler: @Sendable (Event) -> Void
    private var slot: Int32 = -1

    /// Starts watching the existing file at `path`.
    /// - Throws: ``SQLiteError`` when the VFS cannot be registered or another watch is active.
    public init(path: String, handler: @escaping @Sendable (Event) -> Void) throws(SQLiteError) {
        self.handler = handler
        let registered = cbk_tee_register()
        guard registered == SQLITE_OK else {
            throw SQLiteError(code: registered, message: "cannot register the ptc-tee VFS", context: "watching \(path)")
        }
        let rc = cbk_tee_watch(path, { context, kind, offset, amount in
            guard let context else { return }
            let watch = Unmanaged<WriteWatch>.fromOpaque(context).takeUnretainedValue()
            watch.handler(kind == 0 ? .write(offset: offset, length: amount) : .truncate(size: amount))
        }, Unmanaged.passUnretained(self).toOpaque(), &slot)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: rc == SQLITE_BUSY ? "too many files are watched at once" : "cannot watch the file",
                              context: "watching \(path)")
        }
    }

    /// Stops the reports. Call it before the watch goes away (`deinit` does too).
    public func stop() {
        if slot >= 0 { cbk_tee_unwatch(slot) }
        slot = -1
    }

    deinit { stop() }
}
