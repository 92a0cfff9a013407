import Foundation

/// The `--json` document a command printed on stdout, decoded as `type`.
public func report<T: Decodable>(_ type: T.Type, _ stdout: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(stdout.utf8))
}
