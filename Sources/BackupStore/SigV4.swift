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
        signed(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash, date: date).headers
    }

    /// ``sign(method:path:query:headers:payloadHash:date:)`` for a body sent in signed chunks
    /// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, `Content-Encoding: aws-chunked`): the headers, and the
    /// ``ChunkSigner`` that signs each chunk in turn, starting from this request's signature (the seed).
    /// `headers` must carry `x-amz-decoded-content-length` (the body's length before framing).
    public func signStreaming(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                              date: Date = Date()) -> (headers: [(String, String)], chunks: ChunkSigner) {
        let result = signed(method: method, path: path, query: query, headers: headers, payloadHash: Self.streamingPayload, date: date)
        return (result.headers, ChunkSigner(key: result.key, stamp: result.stamp, scope: result.scope, previous: result.signature))
    }

    /// The hash that announces a body in signed chunks (``signStreaming(method:path:query:headers:date:)``).
    public static let streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    private func signed(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                        payloadHash: String, date: Date)
        -> (headers: [(String, String)], key: [UInt8], stamp: String, scope: String, signature: String) {
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
        return (added, key, stamp, scope, signature)
    }
}

/// Signs the chunks of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body, each signature chaining the one
/// before (the first chains the request's own), and frames them as S3's aws-chunked encoding wants:
/// `hex(size);chunk-signature=SIG\r\n` + data + `\r\n`, ending with an empty chunk.
public struct ChunkSigner: Sendable {
    let key: [UInt8]
    let stamp: String
    let scope: String
    /// The signature of the request (before the first chunk), then of the last chunk signed.
    public private(set) var previous: String

    init(key: [UInt8], stamp: String, scope: String, previous: String) {
        self.key = key
        self.stamp = stamp
        self.scope = scope
        self.previous = previous
    }

    /// The signature of the next chunk, whose SHA-256 (hex) is `chunkHash`; the empty final chunk too.
    public mutating func sign(chunkHash: String) -> String {
        let toSign = ["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous, SigV4.emptyPayload, chunkHash].joined(separator: "\n")
        previous = Hex.encode(HMACSHA256.mac(key: key, message: toSign))
        return previous
    }

    /// The header line of a chunk of `size` bytes with `signature`.
    public static func header(size: Int, signature: String) -> String {
        String(size, radix: 16) + ";chunk-signature=" + signature + "\r\n"
    }

    /// The framed length of a body of `length` bytes sent in chunks of `chunkSize` (the last shorter), with
    /// the final empty chunk: the request's `Content-Length`.
    public static func encodedLength(of length: Int64, chunkSize: Int) -> Int64 {
        func framed(_ size: Int64) -> Int64 { Int64(String(size, radix: 16).count + ";chunk-signature=".count + 64 + 2) + size + 2 }
        let full = length / Int64(chunkSize)
        let rest = length % Int64(chunkSize)
        return full * framed(Int64(chunkSize)) + (rest > 0 ? framed(rest) : 0) + framed(0)
    }
}
