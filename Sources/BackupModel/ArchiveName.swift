import Foundation

/// The name SPEC.md gives an archive: `plantocode-<host>-<UTC yyyyMMddTHHmmssZ>-<kind>.tar.zst`, with
/// `-2`, `-3`, … before `.tar.zst` for archives of the same second in the same folder, and `.age`
/// appended when encrypted.
///
/// The host may itself hold `-`, so a name is read from its end.
public struct ArchiveName: Sendable, Equatable {
    public var host: String
    /// The archive's time, `yyyyMMddTHHmmssZ` (UTC).
    public var time: String
    /// `full`, `partial`, `cleanup` or `diff`.
    public var kind: String
    /// 1 for the plain name, N for the name numbered `-N`.
    public var sequence: Int
    public var encrypted: Bool

    public static let kinds: Set<String> = ["full", "partial", "cleanup", "diff"]

    public init(host: String, time: String, kind: String, sequence: Int = 1, encrypted: Bool = false) {
        self.host = host
        self.time = time
        self.kind = kind
        self.sequence = sequence
        self.encrypted = encrypted
    }

    public var fileName: String {
        "plantocode-\(host)-\(time)-\(kind)\(sequence > 1 ? "-\(sequence)" : "").tar.zst\(encrypted ? ".age" : "")"
    }

    /// Whether `fileName` ends like an archive: `.tar.zst`, or `.tar.zst.age` when encrypted.
    public static func hasArchiveSuffix(_ fileName: String) -> Bool {
        fileName.hasSuffix(".tar.zst") || fileName.hasSuffix(".tar.zst.age")
    }

    /// Reads a file name; nil when it is not an archive name of this form.
    public init?(parsing fileName: String) {
        var rest = Substring(fileName)
        let encrypted = rest.hasSuffix(".age")
        if encrypted { rest = rest.dropLast(4) }
        guard rest.hasPrefix("plantocode-"), rest.hasSuffix(".tar.zst") else { return nil }
        rest = rest.dropFirst("plantocode-".count).dropLast(".tar.zst".count)
        var parts = rest.split(separator: "-", omittingEmptySubsequences: false)
        var sequence = 1
        if let last = parts.last, let number = Int(last), number >= 2, last.allSatisfy(\.isASCII), last.first != "0" {
            sequence = number
            parts.removeLast()
        }
        guard parts.count >= 3, let kind = parts.last, Self.kinds.contains(String(kind)) else { return nil }
        let time = parts[parts.count - 2]
        guard UTCTime(compact: time) != nil else { return nil }
        let host = parts.dropLast(2).joined(separator: "-")
        guard !host.isEmpty else { return nil }
        self.init(host: host, time: String(time), kind: String(kind), sequence: sequence, encrypted: encrypted)
    }

    /// The archive's time (the UTC time in its name), in seconds since 1970.
    public var seconds: Int64 { UTCTime(compact: time)?.seconds ?? 0 }
}

/// A UTC calendar time to the second, as archive names carry it (`yyyyMMddTHHmmssZ`), with the
/// proleptic Gregorian arithmetic to and from Unix seconds (no time zones, no `Calendar`: the same
/// answer on every machine). Retention's buckets are built on it.
public struct UTCTime: Sendable, Equatable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// Reads `yyyyMMddTHHmmssZ`; nil unless it is a real time (month 1–12, a day the month has,
    /// 00:00:00–23:59:59; no leap second).
    public init?<S: StringProtocol>(compact text: S) {
        let characters = Array(text.utf8)
        guard characters.count == 16, characters[8] == UInt8(ascii: "T"), characters[15] == UInt8(ascii: "Z"),
              (characters[0..<8] + characters[9..<15]).allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        func number(_ range: Range<Int>) -> Int {
            characters[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        self.init(year: number(0..<4), month: number(4..<6), day: number(6..<8),
                  hour: number(9..<11), minute: number(11..<13), second: number(13..<15))
        guard (1...12).contains(month), (1...Self.days(inMonth: month, of: year)).contains(day),
              hour < 24, minute < 60, second < 60 else { return nil }
    }

    /// The UTC time `seconds` after 1970-01-01T00:00:00Z.
    public init(seconds: Int64) {
        let days = Self.floorDivide(seconds, 86_400)
        let rest = Int(seconds - days * 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        self.init(year: year, month: month, day: day, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    public var seconds: Int64 {
        Self.days(fromCivil: year, month, day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// Days since 1970-01-01.
    public var days: Int64 { Self.days(fromCivil: year, month, day) }

    /// `yyyyMMddTHHmmssZ`.
    public var compact: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let paddedYear = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(paddedYear)\(two(month))\(two(day))T\(two(hour))\(two(minute))\(two(second))Z"
    }

    public static func < (a: UTCTime, b: UTCTime) -> Bool { a.seconds < b.seconds }

    public static func isLeapYear(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Howard Hinnant's `days_from_civil`.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Howard Hinnant's `civil_from_days`.
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
