import COpenSSL
import Foundation
import SystemPackage

/// MD5 over OpenSSL's EVP interface (`EVP_md5`), for S3's `Content-MD5` header only (the integrity check of
/// an upload part sent with `UNSIGNED-PAYLOAD`, as the AWS SDKs send it); never for anything secret.
public enum MD5 {
    /// The base64 MD5 of `length` bytes of the file at `path` from `offset`, read 1 MiB at a time: the value
    /// of a `Content-MD5` header.
    /// - Throws: ``DigestError`` when the file cannot be read, or ends before `offset + length`.
    public static func base64(ofFile path: String, offset: Int64, length: Int64) throws(DigestError) -> String {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        precondition(EVP_DigestInit_ex(context, EVP_md5(), nil) == 1, "EVP_DigestInit_ex(md5) failed")
        try FileChunks.reading(path) { file, buffer throws(DigestError) in
            let read = try FileChunks.read(file, path: path, offset: offset, length: length, buffer: buffer) { bytes in
                precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1)
            }
            if read < length { throw DigestError(path: path, reason: "the file ends before byte \(offset + length)") }
        }
        var digest = [UInt8](repeating: 0, count: 16)
        var size: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &size) == 1 && size == 16)
        return Data(digest).base64EncodedString()
    }
}
