import CSodium

/// PlanToCode's `project_hash`: BLAKE2b with a 16-byte digest of the project directory string,
/// as 32 lower-case hex characters. The corresponding C function is libsodium's `crypto_generichash`.
public enum ProjectHash {
    public static func of(_ projectDirectory: String) -> String {
        var digest = [UInt8](repeating: 0, count: 16)
        let input = Array(projectDirectory.utf8)
        let rc = input.withUnsafeBufferPointer { buffer in
            crypto_generichash(&digest, 16, buffer.baseAddress, UInt64(buffer.count), nil, 0)
        }
        precondition(rc == 0, "crypto_generichash with a 16-byte digest cannot fail")
        return Hex.encode(digest)
    }
}
