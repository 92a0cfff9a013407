import ArgumentParser
import BackupCore
import BackupModel
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Everything the commands share about talking to the user: logging bootstrap, signal handling,
/// the progress bar, JSON and text output, and the one place errors become exit codes.
enum Console {
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

    /// Runs a command body: sets up logging and signals, maps every ``BackupError`` to its exit code
    /// and one line on stderr (or a JSON error document with `--json`).
    static func run(_ command: String, _ options: GlobalOptions, _ body: (Logger) throws -> Void) throws {
        let level: Logger.Level = options.quiet ? .error : options.verbose >= 2 ? .debug : options.verbose == 1 ? .info : .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        installSignalHandlers()
        let logger = Logger(label: "ptc-backup")
        do {
            try body(logger)
        } catch let error as BackupError {
            fail(command, options, message: error.message, code: error.code.rawValue,
                 detail: options.verbose >= 2 ? error.expandedDescription : nil)
        } catch let error as ExitCode {
            throw error
        } catch {
            fail(command, options, message: "internal error: \(error)", code: 70, detail: nil)
        }
    }

    private static func fail(_ command: String, _ options: GlobalOptions, message: String, code: Int32, detail: String?) -> Never {
        ProgressBar.clearLine()
        if options.json {
            printJSON(ErrorReport(command: command, error: message, exitCode: code))
        }
        Console.err("ptc-backup: error: \(message)\n")
        if let detail { Console.err("\(detail)\n") }
        exit(code)
    }

    /// Prints each warning as one `ptc-backup: warning:` line on stderr (also with `--json`, whose
    /// document carries them too), unless `--quiet`.
    static func warn(_ warnings: [String], _ options: GlobalOptions) {
        guard !options.quiet else { return }
        for warning in warnings { Console.err("ptc-backup: warning: \(warning)\n") }
    }

    /// On SIGINT, SIGTERM or SIGHUP: remove temporary files, then exit with 128 + the signal.
    /// SIGXFSZ is ignored so that a file-size limit shows up as EFBIG (exit 74), not a crash.
    private static func installSignalHandlers() {
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                TemporaryFiles.shared.removeAll()
                ProgressBar.clearLine()
                Console.err("ptc-backup: interrupted (signal \(sig)); temporary files removed\n")
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Prints each retry of a remote call on stderr (one line), unless `--quiet`.
    static func retryReporter(_ options: GlobalOptions) -> @Sendable (String) -> Void {
        let quiet = options.quiet
        return { message in
            guard !quiet else { return }
            ProgressBar.clearLine()
            err("ptc-backup: \(message)\n")
        }
    }

    /// Raises this process's niceness to `niceness` (never lowers it). Threads started afterwards,
    /// zstd's workers among them, inherit it. The corresponding C function is `setpriority`.
    static func lowerPriority(to niceness: Int32) {
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard errno == 0, current < niceness else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }

    static func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return }
        out(String(decoding: data, as: UTF8.self))
    }

    /// A line on stdout. A closed pipe (`| head`) is not an error worth a crash.
    static func out(_ line: String = "") {
        writeAll(STDOUT_FILENO, line + "\n")
    }

    /// Text on stderr, unbuffered.
    static func err(_ text: String) {
        writeAll(STDERR_FILENO, text)
    }

    private static func writeAll(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }

    static func bytes(_ count: Int64) -> String { ByteCount.text(count) }

    /// Pads or cuts `text` to `width` terminal columns (East Asian wide characters and emoji take two).
    static func column(_ text: String, _ width: Int) -> String {
        var used = displayWidth(of: text)
        guard used > width else { return text + String(repeating: " ", count: width - used) }
        var cut = ""
        used = 0
        for character in text {
            let w = displayWidth(character)
            if used + w > width - 1 { break }
            cut.append(character)
            used += w
        }
        return cut + "…" + String(repeating: " ", count: max(0, width - used - 1))
    }

    static func displayWidth<S: StringProtocol>(of text: S) -> Int { text.reduce(0) { $0 + displayWidth($1) } }

    static func displayWidth(_ character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal and not `--quiet`.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private var lastPhase: ProgressEvent.Phase?
    let enabled: Bool

    init(options: GlobalOptions) {
        enabled = !options.quiet && isatty(STDERR_FILENO) == 1
    }

    /// The handler to give an operation, or nil when no bar is shown.
    var handler: ProgressHandler? {
        guard enabled else { return nil }
        return { [self] event in self.draw(event) }
    }

    private func draw(_ event: ProgressEvent) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard event.phase != lastPhase || now.timeIntervalSince(lastDraw) > 0.1 || event.done >= event.total else { return }
        lastDraw = now
        lastPhase = event.phase
        let fraction = event.total > 0 ? min(1, Double(event.done) / Double(event.total)) : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let label = Console.column(event.phase.rawValue, 8)
        Console.err("\r\u{1B}[2K\(label) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))%")
    }

    func finish() {
        guard enabled else { return }
        Self.clearLine()
    }

    static func clearLine() {
        if isatty(STDERR_FILENO) == 1 { Console.err("\r\u{1B}[2K") }
    }
}
