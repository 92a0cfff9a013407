import BackupModel

/// What to keep, as `restic forget` takes it: `--keep-last`, `--keep-hourly`, `--keep-daily`,
/// `--keep-weekly` (ISO 8601 weeks), `--keep-monthly`, `--keep-yearly` and `--keep-within`.
/// A count of 0 turns its rule off; a policy whose every rule is off is ``isEmpty``.
public struct RetentionPolicy: Sendable, Equatable {
    public var last = 0
    public var hourly = 0
    public var daily = 0
    public var weekly = 0
    public var monthly = 0
    public var yearly = 0
    /// `--keep-within`: everything newer than the group's newest archive minus this span.
    public var within: Within?

    /// A span of time for `--keep-within`, in seconds, with the text the user gave (`30d`) for reasons.
    public struct Within: Sendable, Equatable {
        public var seconds: Int64
        public var text: String

        public init(seconds: Int64, text: String) {
            self.seconds = seconds
            self.text = text
        }
    }

    public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0,
                within: Within? = nil) {
        self.last = last
        self.hourly = hourly
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.yearly = yearly
        self.within = within
    }

    /// No rule at all: ``Retention/decide(_:policy:)`` then keeps everything, and `prune` refuses to run.
    public var isEmpty: Bool {
        last <= 0 && hourly <= 0 && daily <= 0 && weekly <= 0 && monthly <= 0 && yearly <= 0 && within == nil
    }

    /// The rules as flags, for messages: `--keep-daily 7 --keep-within 30d`.
    public var description: String {
        var parts: [String] = []
        for (flag, count) in [("last", last), ("hourly", hourly), ("daily", daily), ("weekly", weekly),
                              ("monthly", monthly), ("yearly", yearly)] where count > 0 {
            parts.append("--keep-\(flag) \(count)")
        }
        if let within { parts.append("--keep-within \(within.text)") }
        return parts.joined(separator: " ")
    }
}

/// Which archives a prune looks at: kinds and a host. Archives outside it are never touched.
public struct RetentionSelection: Sendable, Equatable {
    /// The kinds named with `--kind`; empty means every kind but `cleanup`, whose archives hold the only
    /// copy of rows the app's cleanup deleted and so are pruned only when named.
    public var kinds: Set<String>
    /// `--host`: only this host's archives; nil for every host.
    public var host: String?

    public init(kinds: Set<String> = [], host: String? = nil) {
        self.kinds = kinds
        self.host = host
    }

    /// Why `name` is outside the selection, or nil when it is inside.
    public func exclusion(of name: ArchiveName) -> String? {
        if let host, name.host != host { return "host \(name.host), not \(host)" }
        if kinds.isEmpty {
            return name.kind == "cleanup" ? "kind cleanup: pruned only with --kind cleanup" : nil
        }
        return kinds.contains(name.kind) ? nil : "kind \(name.kind) not selected"
    }
}
