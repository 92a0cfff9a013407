import BackupDigest
import Foundation

/// Keys for S3 requests. `description` never shows the secret or the token.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public var accessKey: String
    public var secretKey: String
    /// `AWS_SESSION_TOKEN`, for temporary credentials; sent as `x-amz-security-token`.
    public var sessionToken: String?
    /// Where the keys came from, for error messages (never the secret): "AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY from the environment", "profile default of ~/.aws/credentials".
    public var source: String

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.init(accessKey: accessKey, secretKey: secretKey, sessionToken: sessionToken, source: "the keys given")
    }

    public init(accessKey: String, secretKey: String, sessionToken: String?, source: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String { "access key \(accessKey)" }
}

/// AWS Signature Version 4 for S3, header-based, done here rather than by curl's `CURLOPT_AWS_SIGV4`
/// (7.88 signs a streamed body as empty, sends no `x-amz-content-sha256` and does not sort the query).
/// The canonical request is built from exactly the pieces the request is sent with: the caller passes the
/// path already URI-encoded, the query as pairs, and every header it will send.
public struct SigV4: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service = "s3"

    public init(credentials: S3Credentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    /// The hash S3 accepts for a body it should not check (SigV4 "unsigned payload").
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of nothing: the payload hash of a request without a body.
    public static let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// RFC 3986 unreserved characters are kept, everything else is %XX (upper case), as SigV4 wants.
    /// `/` is kept when `keepSlash` (object paths), encoded otherwise (query values).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// The canonical query string: pairs encoded, sorted by name then value, `name=` for empty values.
    /// Send the request with this same string.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func timestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` when
    /// there is a session token, and `Authorization`. `headers` are the others the request carries,
    /// including `host` (as sent: `host[:port]`); all of them are signed.
    public func sign(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                     payloadHash: String, date: Date = Date()) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        let day = String(stamp.prefix(8))
        var added = [("x-amz-date", stamp), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken, !token.isEmpty { added.append(("x-amz-security-token", token)) }
        var canonical: [String: String] = [:]
        for (name, value) in headers + added {
            let key = name.lowercased()
            let trimmed = value.trimmingCharacters(in: .whitespaces)
                .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            canonical[key] = canonical[key].map { $0 + "," + trimmed } ?? trimmed
        }
        let names = canonical.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let request = [
            method,
            path.isEmpty ? "/" : path,
            Self.canonicalQuery(query),
            names.map { "\($0):\(canonical[$0]!)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", stamp, scope, SHA256.hex(of: Array(request.utf8))].joined(separator: "\n")
        var key = HMACSHA256.mac(key: Array("AWS4\(credentials.secretKey)".utf8), message: day)
        for part in [region, service, "aws4_request"] { key = HMACSHA256.mac(key: key, message: part) }
        let signature = Hex.encode(HMACSHA256.mac(key: key, message: toSign))
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"))
        return added
    }
}
