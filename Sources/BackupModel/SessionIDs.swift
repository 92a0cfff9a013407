/// Session ids as people type them: whole, or a unique prefix of at least ``minimumPrefix`` characters
/// (like git's abbreviated commit names). The decision lives here; BackupCore's `SessionSelection`
/// finds the candidates (in a database or a manifest) and turns an ambiguous prefix into an error.
public enum SessionIDs {
    /// The shortest prefix accepted, and the shortest shown.
    public static let minimumPrefix = 8

    /// What a typed id names among the candidates that start with it.
    public enum Match: Equatable, Sendable {
        /// An id equal to what was typed, or the only one starting with it.
        case one(String)
        /// Several ids start with it (sorted).
        case ambiguous([String])
        /// None: no id equals it, and it is too short to be a prefix or no id starts with it.
        case none
    }

    /// Decides what `given` names among `candidates` (ids that start with it, or all ids: others are ignored).
    public static func match(_ given: String, among candidates: some Sequence<String>) -> Match {
        let starting = Set(candidates.filter { $0.hasPrefix(given) })
        if starting.contains(given) { return .one(given) }
        guard given.count >= minimumPrefix, !starting.isEmpty else { return .none }
        return starting.count == 1 ? .one(starting.first!) : .ambiguous(starting.sorted())
    }

    /// The shortest length, at least ``minimumPrefix``, at which every id of `ids` has a prefix no other
    /// one shares (all shown at one length, so that a listing stays aligned).
    public static func uniquePrefixLength(_ ids: [String]) -> Int {
        let sorted = ids.sorted()
        var length = minimumPrefix
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let common = zip(a, b).prefix { $0 == $1 }.count
            length = max(length, min(common + 1, max(a.count, b.count)))
        }
        return length
    }
}
