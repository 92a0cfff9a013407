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
        guard Self.isCompactTime(time) else { return nil }
        let host = parts.dropLast(2).joined(separator: "-")
        guard !host.isEmpty else { return nil }
        self.init(host: host, time: String(time), kind: String(kind), sequence: sequence, encrypted: encrypted)
    }

    /// `yyyyMMddTHHmmssZ`.
    private static func isCompactTime(_ text: Substring) -> Bool {
        let characters = Array(text)
        guard characters.count == 16, characters[8] == "T", characters[15] == "Z" else { return false }
        return (characters[0..<8] + characters[9..<15]).allSatisfy { $0.isASCII && $0.isNumber }
    }
}
