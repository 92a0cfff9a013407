import Foundation

/// A span of time given on the command line as `90d`, `12h`, `2w`, `30m` or `45s`.
public struct Age: Sendable, Equatable, CustomStringConvertible {
    public let seconds: Int64
    public let text: String

    /// Parses `text`. Units: s, m (minutes), h, d, w.
    /// - Throws: ``BackupError`` with code `usage` for anything else.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = trimmed.last, let value = Int64(trimmed.dropLast()), value >= 0 else {
            throw BackupError.usage("invalid age '\(text)': use a number and a unit, like 90d, 12h, 2w")
        }
        let multiplier: Int64
        switch unit {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3600
        case "d": multiplier = 86_400
        case "w": multiplier = 604_800
        default: throw BackupError.usage("invalid age '\(text)': the unit must be s, m, h, d or w")
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow, product < 10_000 * 365 * 86_400 else { throw BackupError.usage("invalid age '\(text)': too large") }
        self.seconds = product
        self.text = trimmed
    }

    public var description: String { text }

    /// A duration in milliseconds as people say it: `7 days`, `36 hours`, `90 minutes`.
    public static func describe(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        for (unit, size) in [("day", Int64(86_400)), ("hour", 3600), ("minute", 60)] where seconds % size == 0 && seconds >= size {
            let n = seconds / size
            return "\(n) \(unit)\(n == 1 ? "" : "s")"
        }
        return "\(seconds) seconds"
    }
}

/// PlanToCode stores Unix timestamps in seconds (column defaults) and in milliseconds (the app's
/// own code). Values above 10^11 are milliseconds: 10^11 seconds is the year 5138, and 10^11
/// milliseconds is March 1973, before any PlanToCode data.
public enum Timestamp {
    public static let millisecondThreshold: Int64 = 100_000_000_000

    /// The value in seconds, whichever unit it was stored in.
    public static func seconds(_ value: Int64) -> Int64 {
        value > millisecondThreshold ? value / 1000 : value
    }

    /// SQL that turns `column` into seconds the same way.
    public static func secondsSQL(_ column: String) -> String {
        "(CASE WHEN \(column) > \(millisecondThreshold) THEN \(column) / 1000 ELSE \(column) END)"
    }

    /// ISO 8601 in UTC, e.g. `2026-11-27T01:02:03Z`.
    public static func iso8601(seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// `yyyyMMddTHHmmssZ` in UTC, as archive names use.
    public static func compact(_ date: Date) -> String {
        iso8601(seconds: Int64(date.timeIntervalSince1970.rounded(.down)))
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }
}
