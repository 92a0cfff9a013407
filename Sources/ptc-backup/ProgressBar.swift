import BackupCore
import BackupModel
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a progress display knows at one moment: the phase, its bytes, and the rate measured so far.
/// Updated by ``record(_:at:)`` as events arrive; drawn by ``ProgressLine/render(_:width:now:)``.
struct ProgressState: Sendable, Equatable {
    var phase: ProgressEvent.Phase
    var done: Int64
    var total: Int64?
    /// When this phase began.
    var started: Date
    /// Bytes per second, smoothed; nil until enough time has passed to measure it.
    var rate: Double?
    /// Where the rate was last measured from.
    private var sampledAt: Date
    private var sampledDone: Int64

    init(_ event: ProgressEvent, at now: Date) {
        phase = event.phase
        done = event.done
        total = event.total
        started = now
        sampledAt = now
        sampledDone = event.done
    }

    /// The state after `event` arrived at `now`: a new phase starts afresh; within a phase the rate is
    /// re-measured at most twice a second and smoothed (a new sample counts for 30%).
    mutating func record(_ event: ProgressEvent, at now: Date) {
        guard event.phase == phase else {
            self = ProgressState(event, at: now)
            return
        }
        done = event.done
        total = event.total
        let interval = now.timeIntervalSince(sampledAt)
        guard interval >= 0.5 else { return }
        let sample = Double(max(0, done - sampledDone)) / interval
        rate = rate.map { 0.7 * $0 + 0.3 * sample } ?? sample
        sampledAt = now
        sampledDone = done
    }

    /// Seconds left at the current rate, when the total and a rate are known.
    var eta: Double? {
        guard let total, let rate, rate > 0 else { return nil }
        return Double(max(0, total - done)) / rate
    }

    /// Whether the phase has done all it will (the display draws this state at once).
    var isComplete: Bool { total.map { done >= $0 } ?? false }
}

/// The one line of a progress display, as text: a pure function of the state, the width and the time.
enum ProgressLine {
    /// The spinner's frames (ASCII: one column on every terminal).
    static let spinner: [Character] = ["|", "/", "-", "\\"]

    /// `compress [#######-------------]  35%  105.0 MB/300.0 MB  52.1 MB/s  ETA 0:04` for a phase of known
    /// size; `check    | 12.0 MB  4.1 MB/s  0:05` (a spinner, bytes, rate and time so far) for one whose size
    /// is not known. What does not fit `width` is left out, least useful first (ETA, rate, bytes, the bar);
    /// the line is never wider than `width` columns.
    static func render(_ state: ProgressState, width: Int, now: Date) -> String {
        guard width > 0 else { return "" }
        let label = state.phase.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        let rate = state.rate.map { ByteCount.text(Int64($0)) + "/s" }
        var line: String
        if let total = state.total {
            let fraction = total > 0 ? min(1, max(0, Double(state.done) / Double(total))) : 1
            let percent = String(Int(fraction * 100)).padded(to: 3, with: " ") + "%"
            let bytes = ByteCount.text(state.done) + "/" + ByteCount.text(total)
            let eta = "ETA " + (state.eta.map { clock($0, roundingUp: true) } ?? "--:--")
            // Optional parts, most useful first; dropped from the end until a bar of 10 fits.
            var extras = [bytes, rate, eta].compactMap { $0 }
            while true {
                let fixed = ([label, percent] + extras).joined(separator: "  ").count
                let room = width - fixed - 2 - 3 // "  " before the percentage, the brackets, a spare column
                if room >= 10 {
                    let inner = min(room, 50)
                    let filled = Int(fraction * Double(inner))
                    let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: inner - filled) + "]"
                    line = ([label + " " + bar, percent] + extras).joined(separator: "  ")
                    break
                }
                if extras.isEmpty {
                    line = label + " " + percent
                    break
                }
                extras.removeLast()
            }
        } else {
            let elapsed = max(0, now.timeIntervalSince(state.started))
            let frame = spinner[Int((elapsed * 10).rounded()) % spinner.count]
            let head = label + " " + String(frame)
            var extras = [state.done > 0 ? ByteCount.text(state.done) : nil, rate, clock(elapsed)].compactMap { $0 }
            line = ([head] + extras).joined(separator: "  ")
            while line.count > width, !extras.isEmpty {
                extras.removeLast()
                line = ([head] + extras).joined(separator: "  ")
            }
        }
        return line.count > width ? String(line.prefix(width)) : line
    }

    /// `m:ss`, or `h:mm:ss` from an hour on; time left is rounded up, time spent down.
    static func clock(_ seconds: Double, roundingUp: Bool = false) -> String {
        let whole = Int(min(seconds, 359_999).rounded(roundingUp ? .up : .down))
        let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60)
        let seconds = String(s).padded(to: 2, with: "0")
        return h > 0 ? String(h) + ":" + String(m).padded(to: 2, with: "0") + ":" + seconds : String(m) + ":" + seconds
    }

    /// One line of `--progress json`: `{"phase":…,"done":…,"total":…|null,"rate":…|null,"eta":…|null}`
    /// (bytes, bytes per second, seconds).
    static func json(_ state: ProgressState) -> String {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return String(format: "%.1f", value)
        }
        return "{\"phase\":\"\(state.phase.rawValue)\",\"done\":\(state.done),\"total\":\(state.total.map(String.init) ?? "null"),"
            + "\"rate\":\(number(state.rate)),\"eta\":\(number(state.eta))}"
    }
}

/// How progress is shown: `--progress auto|json|none`.
enum ProgressMode: String, CaseIterable, Sendable {
    /// A bar on stderr when it is a terminal (and not `--quiet`), nothing otherwise.
    case auto
    /// One JSON line per update on stderr, terminal or not (also with `--quiet`).
    case json
    /// Nothing.
    case none
}

/// Progress on stderr: a one-line bar redrawn at most 10 times a second on a terminal, or JSON lines
/// with `--progress json`, or nothing (piped, `--quiet`, `--progress none`).
final class ProgressBar: Sendable {
    private enum Output { case bar, json }

    private let output: Output?
    private let state = Mutex<(current: ProgressState?, drawnAt: Date, dirty: Bool)>((nil, .distantPast, false))
    /// Redraws the bar (a spinner moves without events); running while the bar is shown.
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)

    /// Set by ``finish()``: nothing is drawn afterwards.
    private let finished = Atomic<Bool>(false)

    /// The bar being shown, so that ``clearLine()`` (before an error or a message line) can stop it.
    private static let active = Mutex<ProgressBar?>(nil)

    init(options: GlobalOptions) {
        switch options.progress {
        case .json: output = .json
        case .none: output = nil
        case .auto: output = !options.quiet && isatty(STDERR_FILENO) == 1 ? .bar : nil
        }
    }

    /// The handler to give an operation, or nil when no progress is shown.
    var handler: ProgressHandler? {
        guard let output else { return nil }
        if output == .bar { startTimer() }
        return { [self] event in self.record(event) }
    }

    private func record(_ event: ProgressEvent) {
        guard !finished.load(ordering: .relaxed) else { return }
        let now = Date()
        let due: ProgressState? = state.withLock { s in
            let previous = s.current
            var current = previous ?? ProgressState(event, at: now)
            if previous != nil { current.record(event, at: now) }
            s.current = current
            // Drawn at once when a phase starts or completes; otherwise at most every 0.1 s, and only
            // when something changed (curl, for one, repeats the same counts many times a second).
            let newPhase = previous?.phase != event.phase
            guard newPhase || previous?.done != current.done || previous?.total != current.total else { return nil }
            s.dirty = true
            let completes = current.isComplete && previous?.isComplete != true
            guard newPhase || completes || now.timeIntervalSince(s.drawnAt) >= 0.1 else { return nil }
            s.drawnAt = now
            s.dirty = false
            return s.current
        }
        if let due { emit(due, now: now) }
    }

    private func emit(_ state: ProgressState, now: Date) {
        switch output {
        case .json: Console.control(ProgressLine.json(state) + "\n")
        case .bar:
            startTimer() // again after ``clearLine()`` made room for a message line
            Console.control("\r\u{1B}[2K" + ProgressLine.render(state, width: Self.terminalWidth() - 1, now: now))
        case nil: break
        }
    }

    /// Every 0.1 s: the bar again when something changed, or its spinner when the phase's size is unknown.
    private func startTimer() {
        timer.withLock { timer in
            guard timer == nil, !finished.load(ordering: .relaxed) else { return }
            let source = DispatchSource.makeTimerSource(queue: .global())
            source.schedule(deadline: .now() + 0.1, repeating: 0.1)
            source.setEventHandler { [weak self] in self?.tick() }
            source.resume()
            timer = source
        }
        Self.active.withLock { $0 = self }
    }

    private func tick() {
        guard !finished.load(ordering: .relaxed) else { return }
        let now = Date()
        let due: ProgressState? = state.withLock { s in
            guard let current = s.current, s.dirty || current.total == nil,
                  now.timeIntervalSince(s.drawnAt) >= 0.09 else { return nil }
            s.drawnAt = now
            s.dirty = false
            return current
        }
        if let due { emit(due, now: now) }
    }

    private func stopTimer() {
        timer.withLock { timer in
            timer?.cancel()
            timer = nil
        }
    }

    /// Removes the bar (the command's output follows).
    func finish() {
        finished.store(true, ordering: .relaxed)
        guard output == .bar else { return }
        stopTimer()
        Self.active.withLock { if $0 === self { $0 = nil } }
        Console.control("\r\u{1B}[2K")
    }

    /// Stops the bar being shown, if any, and clears its line (before an error or a message).
    static func clearLine() {
        active.withLock { $0 }?.stopTimer()
        if isatty(STDERR_FILENO) == 1 { Console.control("\r\u{1B}[2K") }
    }

    /// The terminal's width in columns (stderr's), else `COLUMNS`, else 80.
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }
}

extension String {
    fileprivate func padded(to width: Int, with pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
