import BackupModel
import Foundation

/// The `--json` document a command printed on stdout: the envelope (`command`, `ok`, `exitCode`, `error`,
/// `warnings`), with the command's `result` decoded as `type`.
public func envelope<T: Codable & Sendable>(_ type: T.Type, _ stdout: String) throws -> Report<T> {
    try JSONDecoder().decode(Report<T>.self, from: Data(stdout.utf8))
}

/// The `result` of the `--json` document a command printed on stdout, decoded as `type`.
/// - Throws: when the document is not one, or its result is null.
public func jsonResult<T: Codable & Sendable>(_ type: T.Type, _ stdout: String) throws -> T {
    let document = try envelope(type, stdout)
    guard let result = document.result else {
        throw TestFailure("the \(document.command) document has no result: \(document.error?.message ?? "no error either")")
    }
    return result
}

/// The `result` object of the `--json` document on stdout, as a dictionary (for tests that read a key or two).
public func resultObject(_ stdout: String) throws -> [String: Any]? {
    (try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])?["result"] as? [String: Any]
}
