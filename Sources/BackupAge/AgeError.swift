/// What went wrong reading or writing an age file. The cases follow the failure classes of the age
/// test vectors, so a caller can map them: ``noMatchingIdentity(types:)`` is a missing or wrong key,
/// ``malformedHeader(_:)``, ``headerMACMismatch`` and ``damagedPayload(_:)`` are damaged or tampered
/// data, ``invalidKey(_:)`` is a bad key string or key file given by the user.
public enum AgeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The header parsed, but none of the given identities unwraps any of its stanzas. `types` are the
    /// stanza types found in the header (e.g. `["X25519", "X25519"]`).
    case noMatchingIdentity(types: [String])
    /// The header does not parse, or a stanza that matched an identity is malformed (a low-order
    /// share, a wrong file-key size, a work factor over the limit, scrypt not alone).
    case malformedHeader(String)
    /// The header parsed and a file key was unwrapped, but the header's MAC does not match it.
    case headerMACMismatch
    /// The payload does not decrypt to its end: a tampered chunk, truncation, a missing final chunk,
    /// trailing data.
    case damagedPayload(String)
    /// A key, recipient or passphrase given by the user is not usable.
    case invalidKey(String)
    /// The encryptor was used out of order (a bug in the caller).
    case misuse(String)

    public var description: String {
        switch self {
        case .noMatchingIdentity(let types):
            let kinds = Set(types).sorted().joined(separator: ", ")
            return "no identity matched any of the \(types.count) recipient stanza(s) (\(kinds.isEmpty ? "none" : kinds))"
        case .malformedHeader(let why): return "malformed age header: \(why)"
        case .headerMACMismatch: return "age header MAC mismatch: the header was modified"
        case .damagedPayload(let why): return "damaged age payload: \(why)"
        case .invalidKey(let why): return "invalid age key: \(why)"
        case .misuse(let why): return "age encryptor misuse: \(why)"
        }
    }
}
