import BackupCore
import Foundation
import Testing
@testable import ptc_backup

/// The progress line as text (a pure function of state, width and time): what it says at widths 40, 80
/// and 200, that it never overflows at any width, and how the state measures rate and ETA.
@Suite struct ProgressLineTests {
    let start = Date(timeIntervalSince1970: 1_000_000)

    /// A compress phase 35% through: 52 MB in the first second, 53 MB in the next (rate 52.3 MB/s smoothed).
    func midway() -> ProgressState {
        var state = ProgressState(ProgressEvent(phase: .compress, done: 0, total: 300_000_000), at: start)
        state.record(ProgressEvent(phase: .compress, done: 52_000_000, total: 300_000_000), at: start + 1)
        state.record(ProgressEvent(phase: .compress, done: 105_000_000, total: 300_000_000), at: start + 2)
        return state
    }

    /// A check of unknown size, 12 MB read after 5 s, no rate measured yet.
    func checking() -> ProgressState {
        var state = ProgressState(.started(.check), at: start)
        state.record(ProgressEvent(phase: .check, done: 12_000_000, total: nil), at: start + 0.2)
        return state
    }

    @Test func knownTotalAt80Columns() {
        #expect(ProgressLine.render(midway(), width: 80, now: start + 2)
            == "compress [#######--------------]   35%  105.0 MB/300.0 MB  52.3 MB/s  ETA 0:04")
    }

    @Test func knownTotalAt40ColumnsKeepsBarAndPercentage() {
        #expect(ProgressLine.render(midway(), width: 40, now: start + 2)
            == "compress [#######--------------]   35%")
    }

    @Test func knownTotalAt200ColumnsCapsTheBar() {
        #expect(ProgressLine.render(midway(), width: 200, now: start + 2)
            == "compress [" + String(repeating: "#", count: 17) + String(repeating: "-", count: 33) + "]   35%  105.0 MB/300.0 MB  52.3 MB/s  ETA 0:04")
    }

    @Test func unknownTotalShowsASpinnerWithBytesNeverAPercentage() {
        let at80 = ProgressLine.render(checking(), width: 80, now: start + 5)
        #expect(at80 == "check    -  12.0 MB  0:05")
        #expect(ProgressLine.render(checking(), width: 200, now: start + 5) == at80)
        #expect(ProgressLine.render(checking(), width: 40, now: start + 5) == at80)
        // The spinner turns with time alone (the bar redraws it without events).
        let frames = Set((0..<4).map { ProgressLine.render(checking(), width: 80, now: start + 5 + Double($0) * 0.1).dropFirst(9).first })
        #expect(frames.count == 4)
        #expect(!at80.contains("%"))
    }

    @Test func neverWiderThanTheWidthAndNeverBroken() {
        let states = [midway(), checking(), ProgressState(ProgressEvent(phase: .download, done: 0, total: 0), at: start),
                      ProgressState(ProgressEvent(phase: .snapshot, done: 5_000_000_000_000, total: 9_000_000_000_000), at: start)]
        for state in states {
            for width in 1...220 {
                let line = ProgressLine.render(state, width: width, now: start + 3_725)
                #expect(line.count <= width, "width \(width): \(line)")
                // A bar is drawn whole or not at all.
                #expect(line.contains("[") == line.contains("]"), "width \(width): \(line)")
                #expect(!line.contains("\n") && !line.contains("\u{1B}"))
            }
        }
    }

    @Test func etaAndRate() {
        let state = midway()
        #expect(state.rate == 52_300_000)
        #expect(abs(state.eta! - 195_000_000 / 52_300_000.0) < 0.001)
        #expect(ProgressLine.clock(3_725) == "1:02:05")
        #expect(ProgressLine.clock(59.2, roundingUp: true) == "1:00")
        #expect(ProgressLine.clock(59.2) == "0:59")
        // A new phase starts afresh: no rate carried over.
        var next = state
        next.record(.started(.check), at: start + 3)
        #expect(next.rate == nil && next.total == nil && next.started == start + 3)
    }

    @Test func jsonLine() {
        #expect(ProgressLine.json(midway()) == #"{"phase":"compress","done":105000000,"total":300000000,"rate":52300000.0,"eta":3.7}"#)
        #expect(ProgressLine.json(checking()) == #"{"phase":"check","done":12000000,"total":null,"rate":null,"eta":null}"#)
    }
}
