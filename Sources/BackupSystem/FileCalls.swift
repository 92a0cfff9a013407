#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// The file calls swift-system 1.8 does not wrap (it has open, read, write, close and stat): sync,
/// rename, unlink, mkdir and reading a folder, for every module (BackupStore's stores, BackupCore's
/// operations). Each throws the call's `Errno`. The corresponding C functions are `fsync` (or
/// `fcntl(F_FULLFSYNC)`, ``Platform/sync(_:)``), `rename`, `unlink`, `mkdir`, `opendir`/`readdir`.
public enum FileCalls {
    /// Flushes the file's data and metadata to the device (retried when a signal interrupts it).
    public static func sync(_ file: FileDescriptor) throws(Errno) {
        while Platform.sync(file.rawValue) != 0 {
            let error = Errno(rawValue: errno)
            guard error == .interrupted else { throw error }
        }
    }

    /// Renames `source` to `destination`, replacing what is there atomically.
    public static func move(_ source: String, to destination: String) throws(Errno) {
        try check(rename(source, destination))
    }

    public static func remove(_ path: String) throws(Errno) {
        try check(unlink(path))
    }

    /// Creates `path` and any missing folder above it (mode 0777 less the umask); one already there is fine.
    public static func makeDirectories(_ path: String) throws(Errno) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o777) != 0 {
                let error = Errno(rawValue: errno)
                guard error == .fileExists else { throw error }
                // Something that is not a folder stands in the way.
                guard (try? Stat(FilePath(current)))?.type == .directory else { throw Errno.notDirectory }
            }
        }
    }

    /// The names in the folder at `path`, without `.` and `..`, in no particular order.
    public static func names(in path: String) throws(Errno) -> [String] {
        guard let directory = opendir(path) else { throw Errno(rawValue: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw Errno(rawValue: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// The size of the file at `path`.
    public static func size(of path: String) throws(Errno) -> Int64 {
        try Stat(FilePath(path)).size
    }

    private static func check(_ result: Int32) throws(Errno) {
        if result != 0 { throw Errno(rawValue: errno) }
    }
}
