import ArgumentParser
import BackupCore
import BackupModel
import Foundation
import Logging
import SystemPackage
import Synchronization
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
        running.withLock { $0 = Running(command: command, json: options.json, printed: false) }
        let level: Logger.Level = options.quiet ? .error : options.verbose >= 2 ? .debug : options.verbose == 1 ? .info : .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return PrintableLogHandler(handler)
        }
        installSignalHandlers()
        let logger = Logger(label: "ptc-backup")
        do {
            try body(logger)
            // A transfer stopped by a signal may have finished anyway: the command still ends as interrupted.
            exitIfInterrupted()
        } catch let error as BackupError {
            fail(command, options, message: error.message, code: error.code.rawValue,
                 detail: options.verbose >= 2 ? error.expandedDescription : nil)
        } catch let error as ExitCode {
            throw error
        } catch {
            fail(command, options, message: "internal error: \(error)", code: 70, detail: nil)
        }
    }

    /// What runs: the command's name for the JSON envelope, whether `--json` was given, and whether its
    /// one document has been printed (a signal arriving afterwards prints no second one).
    private struct Running: Sendable {
        var command: String
        var json: Bool
        var printed: Bool
        /// Warnings printed while the command ran (``warningReporter(_:)``), for the envelope.
        var warnings: [String] = []
    }

    private static let running = Mutex(Running(command: "ptc-backup", json: false, printed: false))

    /// Ends a command with its result: with `--json`, one ``Report`` envelope on stdout (carrying `warnings`
    /// and the failure, if any); otherwise `text` renders the result on stdout, unless `--quiet`. Warnings
    /// go to stderr either way (unless `--quiet`, or `warned`: printed already). With a `failure` (a command
    /// whose result tells what went wrong: verify, prune), the error line goes to stderr and the process
    /// exits with its code.
    static func emit<R: Codable & Sendable>(_ result: R, _ options: GlobalOptions, warnings: [String] = [], warned: Bool = false,
                                            failure: BackupError? = nil, text: () -> Void) {
        if !warned { warn(warnings, options) }
        if options.json {
            printDocument(Report(command: running.withLock { $0.command }, result: result, warnings: warnings + running.withLock { $0.warnings },
                                 failure: failure.map { ($0.code.rawValue, $0.message) }))
        } else if !options.quiet {
            text()
        }
        if let failure {
            fail("", options, message: failure.message, code: failure.code.rawValue,
                 detail: options.verbose >= 2 ? failure.expandedDescription : nil, reported: true)
        }
    }

    /// Like ``emit(_:_:warnings:failure:text:)`` for a failure that is an exit code and a line (a `run`
    /// step's): the envelope carries them; the line goes to stderr and the process exits with `code`.
    static func emit<R: Codable & Sendable>(_ result: R, _ options: GlobalOptions, warnings: [String] = [], failing code: Int32,
                                            message: String, text: () -> Void) -> Never {
        if options.json {
            printDocument(Report(command: running.withLock { $0.command }, result: result, warnings: warnings + running.withLock { $0.warnings },
                                 failure: (code, message)))
        } else if !options.quiet {
            text()
        }
        fail("", options, message: message, code: code, detail: nil, reported: true)
    }

    /// The one JSON document of this process (a second is never printed).
    private static func printDocument<R: Codable & Sendable>(_ report: Report<R>) {
        let first = running.withLock { state in
            defer { state.printed = true }
            return !state.printed
        }
        if first { printJSON(report) }
    }

    /// With `--json` in `arguments` (before any `--`), the envelope of a usage error the argument parser
    /// found (exit 64) on stdout. The command is the first argument naming one of `commands`.
    static func printUsageError(_ message: String, code: Int32, arguments: [String], commands: [String]) {
        let options = arguments.prefix { $0 != "--" }
        guard options.contains("--json") else { return }
        let command = options.first { commands.contains($0) } ?? "ptc-backup"
        printJSON(Report<NoResult>(command: command, result: nil, failure: (code, message)))
    }

    private static func fail(_ command: String, _ options: GlobalOptions, message: String, code: Int32, detail: String?,
                             reported: Bool = false) -> Never {
        // An error after a signal is the interrupted transfer's: the exit is the signal's.
        exitIfInterrupted()
        ProgressBar.clearLine()
        if options.json && !reported {
            printDocument(Report<NoResult>(command: running.withLock { $0.command }, result: nil, failure: (code, message)))
        }
        Console.errorLine("ptc-backup: error: \(message)")
        for line in (detail ?? "").split(separator: "\n") { Console.errorLine(String(line)) }
        exit(code)
    }

    /// Prints each warning as one `ptc-backup: warning:` line on stderr (also with `--json`, whose
    /// document carries them too), unless `--quiet`.
    static func warn(_ warnings: [String], _ options: GlobalOptions) {
        guard !options.quiet else { return }
        for warning in warnings { Console.errorLine("ptc-backup: warning: \(warning)") }
    }

    /// The signal that asked this process to end, 0 until one did.
    private static let receivedSignal = Mutex<Int32>(0)

    /// On SIGINT, SIGTERM or SIGHUP: remove temporary files, then exit with 128 + the signal.
    /// During an upload or download the transfer is stopped first (within about a second, at curl's next
    /// progress callback) and the store cleans up after it: an S3 multipart upload is aborted, a WebDAV
    /// temporary object deleted. The command's own thread then unwinds and ``fail`` exits with 128 + the
    /// signal; should the clean-up hang, the process exits anyway after 30 s, and a second signal ends it at once.
    /// SIGXFSZ is ignored so that a file-size limit shows up as EFBIG (exit 74), not a crash.
    private static func installSignalHandlers() {
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let first = receivedSignal.withLock { received in
                    defer { if received == 0 { received = sig } }
                    return received == 0
                }
                if first && Transfers.interrupt() {
                    ProgressBar.clearLine()
                    Console.errorLine("ptc-backup: interrupted (signal \(sig)); stopping the transfer and cleaning up")
                    DispatchQueue.global().asyncAfter(deadline: .now() + 30) { exitInterrupted(sig) }
                    return
                }
                exitInterrupted(sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// After a signal: temporary files removed, one line, exit 128 + the signal.
    private static func exitInterrupted(_ sig: Int32) -> Never {
        TemporaryFiles.shared.removeAll()
        RemoteLock.releaseAll()
        ProgressBar.clearLine()
        if running.withLock({ $0.json }) {
            printDocument(Report<NoResult>(command: running.withLock { $0.command }, result: nil,
                                           failure: (128 + sig, "interrupted (signal \(sig)); temporary files removed")))
        }
        Console.errorLine("ptc-backup: interrupted (signal \(sig)); temporary files removed")
        // `_exit`, not `exit`: the command's threads (a compressor, zstd's workers, SQLite) are still running,
        // and `exit` would tear down what they use under them (a crash in pthread_rwlock_unlock was seen).
        // Everything was written unbuffered, and the temporary files are gone.
        _exit(128 + sig)
    }

    /// Exits as ``exitInterrupted(_:)`` when a signal asked this process to end.
    private static func exitIfInterrupted() {
        let sig = receivedSignal.withLock { $0 }
        if sig != 0 { exitInterrupted(sig) }
    }

    /// Prints one `ptc-backup: warning:` line (not with --quiet); with --json the envelope carries it too.
    static func warningReporter(_ options: GlobalOptions) -> @Sendable (String) -> Void {
        let quiet = options.quiet
        return { message in
            running.withLock { $0.warnings.append(message) }
            guard !quiet else { return }
            ProgressBar.clearLine()
            errorLine("ptc-backup: warning: \(message)")
        }
    }

    /// Prints each retry of a remote call on stderr (one line), unless `--quiet`.
    static func retryReporter(_ options: GlobalOptions) -> @Sendable (String) -> Void {
        let quiet = options.quiet
        return { message in
            guard !quiet else { return }
            ProgressBar.clearLine()
            errorLine("ptc-backup: \(message)")
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
        // JSON escapes control characters itself (and a reader decodes them back): written as it is.
        writeAll(.standardOutput, String(decoding: data, as: UTF8.self) + "\n")
    }

    /// A line of text on stdout, made ``printable(_:)``. A closed pipe (`| head`) is not an error worth a crash.
    static func out(_ line: String = "") {
        writeAll(.standardOutput, printable(line) + "\n")
    }

    /// A line on stderr, made ``printable(_:)``, unbuffered.
    static func errorLine(_ line: String) {
        writeAll(.standardError, printable(line) + "\n")
    }

    /// Terminal control sequences and progress lines on stderr (``ProgressBar``'s), written as they are.
    static func control(_ text: String) {
        writeAll(.standardError, text)
    }

    /// `text` with every control character escaped, so that nothing read from a database, a manifest or
    /// a file name can move the cursor, recolour, retitle or clear a terminal, or fake a line of output.
    ///
    /// The C0 controls (U+0000–U+001F, newline and tab included), DEL (U+007F) and the C1 controls
    /// (U+0080–U+009F) are written as Swift escapes, `\u{1B}` for ESC, `\u{0A}` for a newline;
    /// everything else (other languages, emoji, right-to-left text) is kept. Display only: a backslash is
    /// not escaped, so the result is not meant to be parsed back (`--json` output is exact).
    /// All text output goes through here: ``out(_:)``, ``errorLine(_:)``, ``column(_:_:)`` and the log handler.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func writeAll(_ fd: FileDescriptor, _ text: String) {
        _ = try? fd.writeAll(text.utf8) // interrupted writes are retried; a closed pipe ends the output quietly
    }

    static func bytes(_ count: Int64) -> String { ByteCount.text(count) }

    /// Pads or cuts `text`, made ``printable(_:)``, to `width` terminal columns (East Asian wide
    /// characters and emoji take two).
    static func column(_ raw: String, _ width: Int) -> String {
        let text = printable(raw)
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

    /// Like ``column(_:_:)``, but a text too long loses its start (`…/code/app`): for paths, whose end says most.
    static func leftColumn(_ raw: String, _ width: Int) -> String {
        let text = printable(raw)
        let used = displayWidth(of: text)
        guard used > width else { return text + String(repeating: " ", count: width - used) }
        var kept: [Character] = []
        var keptWidth = 0
        for character in text.reversed() {
            let w = displayWidth(character)
            if keptWidth + w > width - 1 { break }
            kept.append(character)
            keptWidth += w
        }
        return String(repeating: " ", count: max(0, width - keptWidth - 1)) + "…" + String(kept.reversed())
    }

    /// The width lines on stdout may take: `COLUMNS` when set, else the terminal's (the corresponding C call
    /// is `ioctl(TIOCGWINSZ)`); nil when stdout is not a terminal (a pipe or file gets whole lines).
    static func terminalWidth() -> Int? {
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// An ISO 8601 UTC time for people: "just now", "5m ago", "3h ago", "2d ago" within the last week,
    /// else the local date and time (`2026-11-20 14:03`); "-" for none.
    static func when(_ iso: String?, now: Date = Date()) -> String {
        guard let iso, let date = isoFormatter.date(from: iso) else { return iso ?? "-" }
        let seconds = now.timeIntervalSince(date)
        switch seconds {
        case 0..<60: return "just now"
        case 60..<3600: return "\(Int(seconds / 60))m ago"
        case 3600..<86_400: return "\(Int(seconds / 3600))h ago"
        case 86_400..<(7 * 86_400): return "\(Int(seconds / 86_400))d ago"
        default: return localFormatter.string(from: date)
        }
    }

    nonisolated(unsafe) private static let isoFormatter = ISO8601DateFormatter()
    private static let localFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter
    }()

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

/// The console's log handler with every message and metadata value made ``Console/printable(_:)``:
/// logs quote paths, names and server replies.
struct PrintableLogHandler: LogHandler {
    private var inner: StreamLogHandler

    init(_ inner: StreamLogHandler) { self.inner = inner }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: Console.printable(event.message.description))
        event.metadata = event.metadata.map { $0.mapValues(Self.printable) }
        inner.log(event: event)
    }

    private static func printable(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): return .string(Console.printable(text))
        case .stringConvertible(let item): return .string(Console.printable(item.description))
        case .dictionary(let values): return .dictionary(values.mapValues(printable))
        case .array(let values): return .array(values.map(printable))
        @unknown default: return .string(Console.printable(value.description))
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
