import BackupSystem
import BackupDigest
import BackupHTTP
import Foundation
import Synchronization
import SystemPackage

/// A bucket (and key prefix) on an S3-compatible service: AWS, R2, B2, MinIO, Ceph radosgw, Garage.
/// Requests are signed with ``SigV4``; the archive's SHA-256 travels as `x-amz-meta-sha256` and is checked
/// after every upload and download. Files above ``Configuration/multipartThreshold`` go up in parts,
/// ``Configuration/transfers`` at a time, each read by curl straight from its byte range of the file,
/// authenticated as ``PartPayload`` says and retried on its own (the upload is aborted on failure so no parts
/// are left behind); downloads resume with `Range` after a dropped connection.
public struct S3Store: RemoteStore {
    public enum Addressing: String, Sendable, CaseIterable {
        /// `https://host/bucket/key`: MinIO, Ceph and most self-hosted servers.
        case path
        /// `https://bucket.host/key`: AWS's default.
        case virtualHost = "virtual"
    }

    /// How the body of an upload part is vouched for.
    public enum PartPayload: String, Sendable, CaseIterable {
        /// Signed in chunks as curl reads it (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, aws-chunked): the part is
        /// read once. The default over plain http; a server that refuses it gets ``signed`` parts instead.
        case streaming
        /// The part's SHA-256 in the signature (hashed first, then sent: read twice, from the page cache).
        case signed
        /// `UNSIGNED-PAYLOAD` with the part's `Content-MD5` (what the AWS SDKs send): TLS protects the body
        /// on the way, the server checks the MD5. The default over https.
        case unsigned
    }

    public struct Configuration: Sendable {
        /// `http(s)://host[:port]`, without a path.
        public var endpoint: String
        public var bucket: String
        /// Key prefix without leading or trailing slashes; objects are `prefix/name`.
        public var prefix: String
        public var region: String
        public var addressing: Addressing
        public var credentials: S3Credentials
        public var verifyTLS = true
        /// Files larger than this go up as a multipart upload.
        public var multipartThreshold: Int64 = 64 << 20
        /// The size of each part but the last (at least 8 MiB). Large parts keep the per-request cost down
        /// (measured on radosgw, 1 GiB: 16 MiB parts 12.8 s, 64 MiB parts 10.8 s, one PUT 8.2 s); a failed
        /// part is sent again whole.
        public var partSize: Int64 = 64 << 20
        /// Parts of a multipart upload sent at once, each on its own connection (`--transfers`). Memory per
        /// transfer is curl's buffers and one chunk (~2 MiB), never a part.
        public var transfers = 4
        /// How parts are authenticated; nil: ``PartPayload/unsigned`` over https, ``PartPayload/streaming``
        /// over http (where nothing else protects the body).
        public var partPayload: PartPayload?
        /// The bytes of each signed chunk of a ``PartPayload/streaming`` part.
        public var chunkSize = 1 << 20
        /// `max-keys` for listings; nil leaves it to the server (1000 on AWS).
        public var listPageSize: Int?
        /// Retries of one part, and of a download's resumption.
        public var backoff = Backoff()
        /// A transfer that moves nothing for this many seconds is given up (and retried or resumed).
        public var stallTimeout = 30
        /// When the bucket does not exist: true, an upload creates it and a listing is empty; false, both
        /// throw ``StoreError`` `.unavailable` naming the bucket (not retried).
        public var createsBucket = true

        public init(endpoint: String, bucket: String, prefix: String = "", region: String = "us-east-1",
                    addressing: Addressing = .path, credentials: S3Credentials) {
            var endpoint = endpoint
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix.split(separator: "/").joined(separator: "/")
            self.region = region
            self.addressing = addressing
            self.credentials = credentials
        }
    }

    public let configuration: Configuration
    private let signer: SigV4
    private let client = HTTPClient()
    private let scheme: String
    private let host: String

    public init(_ configuration: Configuration) throws {
        guard let components = URLComponents(string: configuration.endpoint), let scheme = components.scheme,
              ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty else {
            throw StoreError(.other, doing: "opening an S3 store", location: configuration.endpoint,
                             reason: "invalid S3 endpoint '\(configuration.endpoint)': use http(s)://host[:port]")
        }
        guard !configuration.bucket.isEmpty else {
            throw StoreError(.other, doing: "opening an S3 store", location: configuration.endpoint,
                             reason: "an S3 remote needs a bucket: s3://bucket/prefix")
        }
        self.configuration = configuration
        self.scheme = scheme
        let port = components.port.map { ":\($0)" } ?? ""
        self.host = configuration.addressing == .virtualHost ? "\(configuration.bucket).\(host)\(port)" : "\(host)\(port)"
        signer = SigV4(credentials: configuration.credentials, region: configuration.region)
    }

    public var description: String {
        "s3://\(configuration.bucket)" + (configuration.prefix.isEmpty ? "" : "/\(configuration.prefix)")
    }

    private func key(_ name: String) -> String {
        configuration.prefix.isEmpty ? name : "\(configuration.prefix)/\(name)"
    }

    /// The request path (URI-encoded, as signed) for an object, or for the bucket when `key` is nil.
    private func path(_ key: String?) -> String {
        let object = key.map { "/" + SigV4.encode($0, keepSlash: true) } ?? "/"
        switch configuration.addressing {
        case .path: return "/" + SigV4.encode(configuration.bucket) + (key == nil ? "" : object)
        case .virtualHost: return object
        }
    }

    // MARK: Requests

    private struct Call {
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: HTTPRequest.Body = .none
        var payloadHash = SigV4.emptyPayload
        var downloadPath: String?
        var appendToDownload = false
        var onDownloadWrite: (@Sendable (Int) -> Void)?
        /// False for what must still go out after SIGINT/SIGTERM (``TransferCancellation``).
        var cancellable = true
    }

    /// Signs and sends one request. A failed transfer (no HTTP status) becomes ``StoreError`` `.unavailable`.
    private func send(_ call: Call, doing: String) throws -> HTTPResponse {
        let path = path(call.key)
        let query = SigV4.canonicalQuery(call.query)
        var request = HTTPRequest(method: call.method, url: "\(scheme)://\(host)\(path)" + (query.isEmpty ? "" : "?\(query)"))
        var headers = [("Host", host)] + call.headers
        if call.payloadHash == SigV4.streamingPayload, case .file(let file, let offset, let size) = call.body {
            headers += [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "\(size)")]
            let (signature, chunks) = signer.signStreaming(method: call.method, path: path, query: call.query, headers: headers)
            request.headers = headers + signature
            let chunkSize = configuration.chunkSize
            request.body = .stream(size: ChunkSigner.encodedLength(of: size, chunkSize: chunkSize)) {
                try ChunkedFileStream(path: file, offset: offset, size: size, chunkSize: chunkSize, signer: chunks)
            }
        } else {
            request.headers = headers + signer.sign(method: call.method, path: path, query: call.query, headers: headers,
                                                    payloadHash: call.payloadHash)
            request.body = call.body
        }
        request.downloadPath = call.downloadPath
        request.appendToDownload = call.appendToDownload
        request.onDownloadWrite = call.onDownloadWrite
        request.verifyTLS = configuration.verifyTLS
        request.stallTimeout = configuration.stallTimeout
        request.cancellable = call.cancellable
        do {
            return try client.perform(request)
        } catch {
            throw StoreError.transfer(error, doing: doing)
        }
    }

    /// S3's error document, `<Error><Code>…</Code><Message>…</Message></Error>`, when the body is one.
    private static func errorCode(_ response: HTTPResponse) -> (code: String, message: String)? {
        guard !response.body.isEmpty, let root = try? XMLElement.parse(Data(response.body), what: "an error", from: ""),
              root.name == "Error", let code = root.value("Code") else { return nil }
        return (code, root.value("Message") ?? "")
    }

    private func failure(_ response: HTTPResponse, _ doing: String) -> StoreError {
        let reason = Self.errorCode(response)
        let kind: StoreError.Kind
        switch (response.status, reason?.code) {
        case (_, "InvalidToken"), (_, "ExpiredToken"), (_, "TokenRefreshRequired"), (_, "SignatureDoesNotMatch"),
             (_, "InvalidAccessKeyId"), (_, "AuthorizationHeaderMalformed"):
            kind = .refused
        case (404, _): kind = .notFound
        case (401, _), (403, _): kind = .refused
        case (_, "RequestTimeout"), (_, "SlowDown"), (_, "InternalError"), (429, _), (408, _), (500..., _): kind = .unavailable
        default: kind = .other
        }
        var said = reason.map { ": \($0.code)" + ($0.message.isEmpty ? "" : " (\($0.message))") } ?? ""
        if kind == .refused {
            // Which credentials were refused: where they came from and the key id, never the secret.
            let credentials = configuration.credentials
            said += "; credentials used: access key \(credentials.accessKey) from \(credentials.source)"
                + (credentials.sessionToken == nil ? ", no session token" : ", with a session token")
                + "; check them, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        }
        return .response(kind, doing: doing, url: "\(self)", status: response.status, said: said)
    }

    private static func isNoSuchBucket(_ response: HTTPResponse) -> Bool {
        response.status == 404 && errorCode(response)?.code == "NoSuchBucket"
    }

    /// The bucket does not exist and ``Configuration/createsBucket`` is false.
    private func missingBucket(_ doing: String) -> StoreError {
        var error = StoreError(.unavailable, doing: doing, location: "s3://\(configuration.bucket)",
                               reason: "the bucket '\(configuration.bucket)' does not exist at \(configuration.endpoint); create it, or pass --create-bucket",
                               status: 404)
        error.exhausted = true
        return error
    }

    /// Sends `call`; when the bucket does not exist yet, creates it and sends again (or throws, unless
    /// ``Configuration/createsBucket``).
    private func sendCreatingBucket(_ call: Call, doing: String) throws -> HTTPResponse {
        let response = try send(call, doing: doing)
        guard Self.isNoSuchBucket(response) else { return response }
        guard configuration.createsBucket else { throw missingBucket(doing) }
        try createBucket()
        return try send(call, doing: doing)
    }

    private func createBucket() throws {
        var call = Call(method: "PUT", key: nil)
        if configuration.region != "us-east-1" {
            let body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
            call.body = .bytes(body)
            call.payloadHash = SHA256.hex(of: body)
        }
        let doing = "creating the bucket \(configuration.bucket)"
        let response = try send(call, doing: doing)
        // Another writer may have made it meanwhile: "already owned by you" is success.
        guard response.isSuccess || Self.errorCode(response)?.code == "BucketAlreadyOwnedByYou" else { throw failure(response, doing) }
    }

    // MARK: Verbs

    /// `replacing` false is not enforced by the server (If-None-Match on PUT is not on every S3 server):
    /// callers check with ``stat(_:)`` first.
    public func put(file path: String, as name: String, replacing: Bool) throws {
        try Self.check(name)
        let doing = "uploading \(name) to \(self)"
        let size: Int64
        do {
            size = try FileCalls.size(of: path)
        } catch {
            throw StoreError.file(error, doing: doing, path: path, creating: false)
        }
        let sha256: String
        if size > configuration.multipartThreshold {
            sha256 = try putMultipart(path, size: size, partSize: max(configuration.partSize, 8 << 20), key: key(name), doing: doing)
        } else {
            sha256 = try Self.hashing(doing) { () throws(DigestError) in try SHA256.hex(ofFile: path) }
            let call = Call(method: "PUT", key: key(name),
                            headers: [("Content-Type", "application/octet-stream"), ("x-amz-meta-sha256", sha256)],
                            body: .file(path: path, size: size), payloadHash: sha256)
            let response = try sendCreatingBucket(call, doing: doing)
            guard response.isSuccess else { throw failure(response, doing) }
        }
        // What the server now holds under the name must be what we sent; otherwise it goes.
        let stored = try stat(name)
        guard let stored, stored.size == size, stored.sha256 == sha256 else {
            try? delete(name)
            throw StoreError(.unavailable, doing: doing, location: "\(self)/\(name)", reason: "the server holds \(stored.map { "\($0.size) bytes, SHA-256 \($0.sha256 ?? "none")" } ?? "nothing") after the upload, not \(size) bytes with SHA-256 \(sha256)")
        }
    }

    private static func hashing<T>(_ doing: String, _ body: () throws(DigestError) -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch {
            guard let errno = error.errno else {
                throw StoreError(.other, doing: doing, location: error.path, reason: error.description)
            }
            throw StoreError.file(errno, doing: doing, path: error.path, creating: false)
        }
    }

    /// Parts go up ``Configuration/transfers`` at a time (threads of their own), each retried on its own;
    /// on any failure the upload is aborted, so no parts stay behind taking space. So it is on SIGINT/SIGTERM
    /// (``TransferCancellation``): starting the upload is not cancellable (its id must be known to abort it),
    /// the parts being sent are stopped, and the abort goes out. The upload can only start once the whole
    /// file is hashed (its metadata is fixed then); meanwhile the part threads already hash their parts
    /// (``PartPayload/signed``, ``PartPayload/unsigned``). Returns the file's SHA-256.
    private func putMultipart(_ path: String, size: Int64, partSize: Int64, key: String, doing: String) throws -> String {
        let started = Pending<(id: String, sha256: String)>()
        let starter = Thread { [self] in
            started.set(Result {
                let sha256 = try Self.hashing(doing) { () throws(DigestError) in try SHA256.hex(ofFile: path) }
                var start = Call(method: "POST", key: key, query: [("uploads", "")],
                                 headers: [("Content-Type", "application/octet-stream"), ("x-amz-meta-sha256", sha256)])
                start.cancellable = false
                let response = try sendCreatingBucket(start, doing: doing)
                guard response.isSuccess else { throw failure(response, doing) }
                guard let id = try XMLElement.parse(Data(response.body), what: "the answer to starting \(doing)", from: "\(self)").value("UploadId"),
                      !id.isEmpty else {
                    throw StoreError(.other, doing: doing, location: "\(self)", reason: "the server did not give an upload id")
                }
                return (id, sha256)
            })
        }
        starter.stackSize = 1 << 20
        starter.start()
        let count = Int((size + partSize - 1) / partSize)
        let upload = PartUpload(count: count, payload: configuration.partPayload ?? (scheme == "https" ? .unsigned : .streaming))
        do {
            try Self.inParallel(count: count, width: configuration.transfers) { index in
                if TransferCancellation.isRequested {
                    throw StoreError(.other, doing: doing, location: "\(self)", reason: "interrupted")
                }
                let offset = Int64(index) * partSize
                let etag = try putPart(path, offset: offset, length: min(partSize, size - offset), number: index + 1, of: count,
                                       upload: upload, started: started, key: key, doing: doing)
                upload.finished(index, etag: etag)
            }
            let uploadID = try started.wait().id
            let body = Array(("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + upload.etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(Self.escaped($0.element))</ETag></Part>" }.joined()
                + "</CompleteMultipartUpload>").utf8)
            let complete = Call(method: "POST", key: key, query: [("uploadId", uploadID)],
                                headers: [("Content-Type", "application/xml")], body: .bytes(body), payloadHash: SHA256.hex(of: body))
            let done = try send(complete, doing: doing)
            // Completing can fail after a 200: the error is then in the body.
            guard done.isSuccess, Self.errorCode(done) == nil else { throw failure(done, doing) }
            return try started.wait().sha256
        } catch {
            if let uploadID = try? started.wait().id {
                var abort = Call(method: "DELETE", key: key, query: [("uploadId", uploadID)])
                abort.cancellable = false
                _ = try? send(abort, doing: "aborting \(doing)")
            }
            throw error
        }
    }

    /// Sends one part (curl reads its byte range of the file) and returns its ETag, retrying with
    /// ``Configuration/backoff``. A server that refuses a streamed part (4xx, 501) gets it again signed, and
    /// so every later part of the upload.
    private func putPart(_ path: String, offset: Int64, length: Int64, number: Int, of count: Int, upload: PartUpload,
                         started: Pending<(id: String, sha256: String)>, key: String, doing: String) throws -> String {
        let doing = "\(doing) (part \(number) of \(count))"
        // Computed once, before the upload id is known where it can be (the whole file is being hashed meanwhile).
        var sha256: String?
        var md5: String?
        func prepare(_ payload: PartPayload) throws {
            switch payload {
            case .streaming: break
            case .signed where sha256 == nil:
                sha256 = try Self.hashing(doing) { () throws(DigestError) in try SHA256.hex(ofFile: path, offset: offset, length: length) }
            case .unsigned where md5 == nil:
                md5 = try Self.hashing(doing) { () throws(DigestError) in try MD5.base64(ofFile: path, offset: offset, length: length) }
            default: break
            }
        }
        func send(_ payload: PartPayload) throws -> HTTPResponse {
            try prepare(payload)
            var call = Call(method: "PUT", key: key, query: [("partNumber", "\(number)"), ("uploadId", try started.wait().id)],
                            body: .file(path: path, offset: offset, size: length))
            switch payload {
            case .streaming:
                call.payloadHash = SigV4.streamingPayload
            case .signed:
                call.payloadHash = sha256!
            case .unsigned:
                call.payloadHash = SigV4.unsignedPayload
                call.headers.append(("Content-MD5", md5!))
            }
            return try self.send(call, doing: doing)
        }
        try prepare(upload.payload)
        _ = try started.wait()
        return try configuration.backoff.run {
            let payload = upload.payload
            var response = try send(payload)
            if payload == .streaming, response.status == 501 || (400..<500).contains(response.status) {
                upload.payload = .signed
                configuration.backoff.onRetry("\(failure(response, doing).message); sending the parts signed whole instead of in signed chunks")
                response = try send(.signed)
            }
            guard response.isSuccess, let etag = response.headers["etag"] else { throw failure(response, doing) }
            return etag
        }
    }

    /// Runs `body` for every index below `count`, on `width` threads of their own (uploads block in curl).
    /// After a failure no new index starts; the first error is thrown once every thread is done.
    static func inParallel(count: Int, width: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        final class Shared: Sendable {
            let state = Mutex<(next: Int, error: (any Error)?)>((0, nil))
        }
        let shared = Shared()
        let done = DispatchSemaphore(value: 0)
        let threads = max(1, min(width, count))
        for _ in 0..<threads {
            let thread = Thread {
                while let index = shared.state.withLock({ state -> Int? in
                    guard state.error == nil, state.next < count else { return nil }
                    state.next += 1
                    return state.next - 1
                }) {
                    do {
                        try body(index)
                    } catch {
                        shared.state.withLock { if $0.error == nil { $0.error = error } }
                    }
                }
                done.signal()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<threads { done.wait() }
        if let error = shared.state.withLock({ $0.error }) { throw error }
    }

    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    public func get(_ name: String, to path: String) throws {
        try Self.check(name)
        let doing = "downloading \(name) from \(self)"
        guard let (info, etag) = try head(name) else {
            throw StoreError(.notFound, doing: doing, location: "\(self)/\(name)", reason: "there is no such object")
        }
        // A download whose SHA-256 is not the one stored is fetched once more from scratch (a bad copy in
        // passing); a second mismatch is the object's own: ``StoreError/isChecksumMismatch``, not retried.
        for attempt in 1...2 {
            do {
                try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                        permissions: [.ownerReadWrite]).close()
            } catch {
                throw StoreError.file(error, doing: doing, path: path, creating: true)
            }
            // Hashed as it arrives, so the check costs no extra pass over the file.
            let hasher = FollowingHasher(path: path)
            do {
                // Every request appends; after a dropped connection the rest comes with Range, only from the
                // same object (If-Match its ETag).
                try configuration.backoff.run {
                    let have = Self.size(of: path)
                    if have >= info.size && have > 0 { return }
                    var call = Call(method: "GET", key: key(name), headers: etag.map { [("If-Match", $0)] } ?? [],
                                    downloadPath: path, appendToDownload: true, onDownloadWrite: { hasher.wrote($0) })
                    if have > 0 { call.headers.append(("Range", "bytes=\(have)-")) }
                    let response = try send(call, doing: doing)
                    guard response.status == (have > 0 ? 206 : 200) else {
                        if response.status == 412 {
                            throw StoreError(.other, doing: doing, location: "\(self)/\(name)", reason: "the object changed during the download")
                        }
                        throw failure(response, doing)
                    }
                }
                let (actual, received) = try Self.hashing(doing) { () throws(DigestError) in try hasher.finish() }
                guard received == info.size else {
                    throw StoreError(.unavailable, doing: doing, location: "\(self)/\(name)", reason: "received \(received) bytes of \(info.size)")
                }
                if let expected = info.sha256, actual != expected {
                    if attempt == 1 { continue }
                    var error = StoreError(.other, doing: doing, location: "\(self)/\(name)",
                                           reason: "the download's SHA-256 is \(actual) twice, the object's metadata says \(expected)")
                    error.isChecksumMismatch = true
                    throw error
                }
                return
            } catch {
                _ = try? hasher.finish()
                try? FileCalls.remove(path)
                throw error
            }
        }
    }

    /// The size of the file at `path`, 0 when there is none yet.
    private static func size(of path: String) -> Int64 {
        (try? FileCalls.size(of: path)) ?? 0
    }

    public func stat(_ name: String) throws -> ObjectInfo? {
        try Self.check(name)
        return try head(name)?.info
    }

    private func head(_ name: String) throws -> (info: ObjectInfo, etag: String?)? {
        let doing = "looking up \(name) on \(self)"
        let response = try send(Call(method: "HEAD", key: key(name)), doing: doing)
        if response.status == 404 { return nil }
        guard response.isSuccess else { throw failure(response, doing) }
        let info = ObjectInfo(name: name, size: Int64(response.headers["content-length"] ?? "") ?? 0,
                              modified: response.headers["last-modified"].flatMap(WebDAVStore.httpDate),
                              sha256: response.headers["x-amz-meta-sha256"])
        return (info, response.headers["etag"])
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        let base = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
        let doing = "listing \(self)"
        var objects: [ObjectInfo] = []
        var token: String?
        repeat {
            // No delimiter: names are one component, deeper keys are skipped below.
            var query = [("list-type", "2"), ("prefix", base + prefix)]
            if let pageSize = configuration.listPageSize { query.append(("max-keys", "\(pageSize)")) }
            if let token { query.append(("continuation-token", token)) }
            let response = try send(Call(method: "GET", key: nil, query: query), doing: doing)
            if Self.isNoSuchBucket(response) {
                guard configuration.createsBucket else { throw missingBucket(doing) }
                return []
            }
            guard response.status == 200 else { throw failure(response, doing) }
            let page = try XMLElement.parse(Data(response.body), what: "the listing of \(self)", from: "\(self)")
            for entry in page.all("Contents") {
                guard let key = entry.value("Key"), key.hasPrefix(base) else { continue }
                let name = String(key.dropFirst(base.count))
                guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/") else { continue }
                objects.append(ObjectInfo(name: name, size: Int64(entry.value("Size") ?? "") ?? 0,
                                          modified: entry.value("LastModified").flatMap(Self.isoDate)))
            }
            token = page.value("IsTruncated") == "true" ? page.value("NextContinuationToken") : nil
        } while token != nil
        return objects.sorted { $0.name < $1.name }
    }

    static func isoDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Multipart uploads started under this store's prefix and neither completed nor aborted (their parts
    /// take space until they are), with when each was started and the bytes of its parts so far
    /// (ListMultipartUploads, paged, then ListParts for each). A failed upload aborts its own; this finds
    /// what a killed process left.
    public func incompleteUploads() throws -> [Leftover] {
        let base = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
        let doing = "listing incomplete uploads in \(self)"
        var uploads: [Leftover] = []
        var markers: (key: String, upload: String)?
        repeat {
            // No `prefix` parameter (moto rejects a signed query holding '/'): keys are filtered here.
            var query = [("uploads", "")]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let response = try send(Call(method: "GET", key: nil, query: query), doing: doing)
            if Self.isNoSuchBucket(response) { return [] }
            guard response.status == 200 else { throw failure(response, doing) }
            let page = try XMLElement.parse(Data(response.body), what: "the list of incomplete uploads in \(self)", from: "\(self)")
            for upload in page.all("Upload") {
                guard let key = upload.value("Key"), key.hasPrefix(base), let id = upload.value("UploadId") else { continue }
                let name = String(key.dropFirst(base.count))
                uploads.append(Leftover(name: name, kind: .multipartUpload(id: id), bytes: try partBytes(key: key, uploadID: id),
                                        since: upload.value("Initiated").flatMap(Self.isoDate)))
            }
            if page.value("IsTruncated") == "true", let key = page.value("NextKeyMarker"), let upload = page.value("NextUploadIdMarker") {
                markers = (key, upload)
            } else {
                markers = nil
            }
        } while markers != nil
        return uploads
    }

    /// The bytes of the parts uploaded so far (ListParts, paged); 0 when the upload is gone meanwhile.
    private func partBytes(key: String, uploadID: String) throws -> Int64 {
        let doing = "listing the parts of an incomplete upload of \(key) in \(self)"
        var total: Int64 = 0
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let response = try send(Call(method: "GET", key: key, query: query), doing: doing)
            if response.status == 404 { return total }
            guard response.status == 200 else { throw failure(response, doing) }
            let page = try XMLElement.parse(Data(response.body), what: "the parts of an upload in \(self)", from: "\(self)")
            total += page.all("Part").reduce(0) { $0 + (Int64($1.value("Size") ?? "") ?? 0) }
            marker = page.value("IsTruncated") == "true" ? page.value("NextPartNumberMarker") : nil
        } while marker != nil
        return total
    }

    /// Aborts an incomplete multipart upload (AbortMultipartUpload): its parts are freed. One that is
    /// gone already (completed, aborted) is not an error.
    public func abort(uploadID: String, name: String) throws {
        let doing = "aborting the incomplete upload of \(name) in \(self)"
        var call = Call(method: "DELETE", key: key(name), query: [("uploadId", uploadID)])
        call.cancellable = false
        let response = try send(call, doing: doing)
        guard response.isSuccess || response.status == 404 else { throw failure(response, doing) }
    }

    /// S3Store writes no temporary objects: its leftovers are incomplete multipart uploads.
    public func leftovers() throws -> [Leftover] { try incompleteUploads() }

    public func remove(_ leftover: Leftover) throws {
        guard case .multipartUpload(let id) = leftover.kind else { return }
        try abort(uploadID: id, name: leftover.name)
    }

    /// A delete is small: it still goes out after SIGINT/SIGTERM (an interrupted run removes its lock object).
    public func delete(_ name: String) throws {
        try Self.check(name)
        let doing = "deleting \(name) from \(self)"
        var call = Call(method: "DELETE", key: key(name))
        call.cancellable = false
        let response = try send(call, doing: doing)
        guard response.isSuccess || response.status == 404 else { throw failure(response, doing) }
    }
}

/// The state the parts of one multipart upload share across their threads: each part's ETag, and the
/// payload mode (which falls back to signed parts once for all).
private final class PartUpload: Sendable {
    private let state: Mutex<(etags: [String?], payload: PartPayload)>

    init(count: Int, payload: PartPayload) {
        state = Mutex((Array(repeating: nil, count: count), payload))
    }

    var payload: PartPayload {
        get { state.withLock { $0.payload } }
        set { state.withLock { $0.payload = newValue } }
    }

    func finished(_ index: Int, etag: String) { state.withLock { $0.etags[index] = etag } }

    /// The ETags in part order, once every part is done.
    var etags: [String] { state.withLock { $0.etags.map { $0! } } }
}

private typealias PartPayload = S3Store.PartPayload

/// A byte range of a file as an aws-chunked body (``ChunkSigner``): each chunk is read into one buffer,
/// hashed and signed, framed in place (its header written just before the data, `\r\n` after), and handed
/// to curl from there, so the part is read once and held a chunk at a time.
private final class ChunkedFileStream: UploadStream {
    let path: String
    private let file: FileDescriptor
    private let offset: Int64
    private let size: Int64
    private let chunkSize: Int
    private let seed: ChunkSigner
    private var signer: ChunkSigner
    /// Bytes of the file framed so far.
    private var position: Int64 = 0
    /// The framed chunk in ``buffer`` being handed out: from `handedOut` to `framedEnd`.
    private var handedOut = 0
    private var framedEnd = 0
    private var ended = false
    /// Room for the longest chunk header (hex size, `;chunk-signature=`, 64 hex digits, CRLF) before the data.
    private static let headerRoom = 96
    private let buffer: UnsafeMutableRawBufferPointer

    init(path: String, offset: Int64, size: Int64, chunkSize: Int, signer: ChunkSigner) throws {
        file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        self.path = path
        self.offset = offset
        self.size = size
        self.chunkSize = chunkSize
        seed = signer
        self.signer = signer
        buffer = .allocate(byteCount: Self.headerRoom + chunkSize + 2, alignment: 4096)
    }

    deinit {
        buffer.deallocate()
        try? file.close()
    }

    func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        if handedOut == framedEnd {
            if ended { return 0 }
            try frameNextChunk()
        }
        let n = min(out.count, framedEnd - handedOut)
        out.baseAddress!.copyMemory(from: buffer.baseAddress! + handedOut, byteCount: n)
        handedOut += n
        return n
    }

    func rewind() -> Bool {
        position = 0
        signer = seed
        handedOut = 0
        framedEnd = 0
        ended = false
        return true
    }

    private func frameNextChunk() throws {
        let length = Int(min(Int64(chunkSize), size - position))
        let data = Self.headerRoom
        var filled = 0
        while filled < length {
            let n = try file.read(fromAbsoluteOffset: offset + position + Int64(filled),
                                  into: UnsafeMutableRawBufferPointer(rebasing: buffer[(data + filled)..<(data + length)]))
            if n == 0 { throw Errno.ioError } // the file shrank under the upload
            filled += n
        }
        let hasher = SHA256()
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[data..<(data + length)]))
        let header = Array(ChunkSigner.header(size: length, signature: signer.sign(chunkHash: hasher.finalize())).utf8)
        handedOut = data - header.count
        header.withUnsafeBytes { buffer.baseAddress!.advanced(by: handedOut).copyMemory(from: $0.baseAddress!, byteCount: header.count) }
        buffer[data + length] = 13
        buffer[data + length + 1] = 10
        framedEnd = data + length + 2
        position += Int64(length)
        if length == 0 { ended = true }
    }
}

/// A value another thread produces once (the upload id); ``wait()`` blocks until it is there, then returns it
/// or throws what producing it threw, every time, from any thread.
private final class Pending<Value: Sendable>: Sendable {
    private let outcome = Mutex<Result<Value, any Error>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ result: Result<Value, any Error>) {
        outcome.withLock { $0 = result }
        ready.signal()
    }

    func wait() throws -> Value {
        ready.wait()
        ready.signal() // for the next caller
        return try outcome.withLock { $0! }.get()
    }
}
