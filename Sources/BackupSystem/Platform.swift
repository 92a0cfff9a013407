#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What differs between Linux and macOS, and nothing else: every other file calls POSIX through
/// swift-system, ``FileCalls`` or these functions. Tested here on Linux only; the macOS branches are compiled and
/// reasoned about, not run (docs/DEVELOPMENT.md lists them).
public enum Platform {
    /// Makes what was written to `fd` durable: `fsync(2)` on Linux, `fcntl(F_FULLFSYNC)` on macOS
    /// (where `fsync` only reaches the drive's cache), falling back to `fsync` where that is refused.
    /// Returns 0, or -1 with `errno` set.
    public static func sync(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        if fcntl(fd, F_FULLFSYNC) == 0 { return 0 }
        #endif
        return fsync(fd)
    }

    /// The process's peak resident set size in KiB, for debug logs: `VmHWM` from `/proc/self/status`
    /// on Linux, `ru_maxrss` (bytes there) on macOS.
    public static func peakResidentKiB() -> Int? {
        #if os(Linux)
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix("VmHWM:") {
                return Int(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).dropFirst().first ?? "")
            }
        }
        return nil
        #else
        var usage = rusage()
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
        return Int(usage.ru_maxrss) / 1024
        #endif
    }
}
