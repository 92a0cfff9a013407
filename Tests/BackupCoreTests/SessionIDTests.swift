import BackupModel
import Testing

/// Session id prefixes: what a typed id names, and the length at which a listing shows ids.
@Suite struct SessionIDTests {
    let ids = ["3f2a9c01-aaaa", "3f2a9c01-bbbb", "9b1c0d2e-cccc", "short"]

    @Test func anExactIDOrAUniquePrefixOfEightOrMoreNamesOneSession() {
        #expect(SessionIDs.match("9b1c0d2e-cccc", among: ids) == .one("9b1c0d2e-cccc"))
        #expect(SessionIDs.match("9b1c0d2e", among: ids) == .one("9b1c0d2e-cccc"))
        #expect(SessionIDs.match("short", among: ids) == .one("short"), "a whole id shorter than 8 characters still names itself")
        #expect(SessionIDs.match("9b1c0d2", among: ids) == .none, "7 characters are not a prefix")
        #expect(SessionIDs.match("3f2a9c01-a", among: ids) == .one("3f2a9c01-aaaa"))
        #expect(SessionIDs.match("ffffffff", among: ids) == .none)
    }

    @Test func aSharedPrefixIsAmbiguousListingTheCandidates() {
        #expect(SessionIDs.match("3f2a9c01", among: ids) == .ambiguous(["3f2a9c01-aaaa", "3f2a9c01-bbbb"]))
        #expect(SessionIDs.match("3f2a9c01-", among: ids.reversed()) == .ambiguous(["3f2a9c01-aaaa", "3f2a9c01-bbbb"]))
    }

    @Test func listingsShowEightCharactersOrAsManyAsMakeEveryIDUnique() {
        #expect(SessionIDs.uniquePrefixLength([]) == 8)
        #expect(SessionIDs.uniquePrefixLength(["9b1c0d2e-cccc", "3f2a9c01-aaaa"]) == 8)
        #expect(SessionIDs.uniquePrefixLength(ids) == 10)
        #expect(SessionIDs.uniquePrefixLength(["abc", "abcdefghij"]) == 8, "an id that is another's prefix: the longer one's length caps it")
        #expect(SessionIDs.uniquePrefixLength(["abcdefghijk", "abcdefghijkl"]) == 12)
    }
}
