import CCurl
import Foundation
import SystemPackage

/// A failure of the transfer itself (no HTTP status): refused connection, DNS, TLS, timeout, a callback
/// that stopped it, or the local file the body comes from or goes to. A non-2xx status is not an error:
/// it is ``HTTPResponse/status``. The URL is kept without credentials.
public struct CurlError: Error, CustomStringConvertible, Sendable {
    /// curl's `CURLcode`, or -1 when curl was not reached (the local file could not be opened).
    public let code: Int32
    public let message: String
    public let url: String
    /// The system's error when the local file failed (opening, reading or writing it), with its path;
    /// `writing`: the download's file rather than the upload's.
    public let fileError: (errno: Errno, path: String, writing: Bool)?

    public init(code: Int32, message: String, url: String, fileError: (errno: Errno, path: String, writing: Bool)? = nil) {
        self.code = code
        self.message = message
        self.url = url
        self.fileError = fileError
    }

    public var description: String { "\(message) (curl error \(code)) for \(url)" }

    /// The transfer was stopped because ``TransferCancellation`` was requested (SIGINT, SIGTERM).
    public var isCancelled: Bool { code == Int32(CURLE_ABORTED_BY_CALLBACK.rawValue) && message == Self.cancelledMessage }

    static let cancelledMessage = "interrupted"

    /// Connection-level failures worth a retry with backoff (refused, reset, timeout).
    public var isTransient: Bool {
        [CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
         CURLE_PARTIAL_FILE].map { Int32($0.rawValue) }.contains(code)
    }
}

/// One HTTP request. The body is nothing, bytes, or a file (or `size` bytes of it from `offset`) streamed
/// from disk with Content-Length.
public struct HTTPRequest: Sendable {
    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        case file(path: String, offset: Int64 = 0, size: Int64)
        /// `size` bytes made as curl reads them (framed, signed on the way) by a stream `open` makes for
        /// this request; a stream that cannot start again makes the request fail where curl would rewind.
        case stream(size: Int64, open: @Sendable () throws -> any UploadStream)
    }

    public var method: String
    public var url: String
    public var headers: [(String, String)] = []
    public var body: Body = .none
    /// Where to write the body of a successful (2xx) response; nil, or an error status, keeps it in memory.
    public var downloadPath: String?
    /// Append to ``downloadPath`` instead of truncating it (resuming with a `Range` header).
    public var appendToDownload = false
    /// Told the size of each block just written to ``downloadPath`` (on the transfer's thread), so a reader
    /// of the file can follow it without polling.
    public var onDownloadWrite: (@Sendable (Int) -> Void)?
    /// Sent with ``authScheme``.
    public var credentials: (user: String, password: String)?
    /// `.any` lets curl find out (a first request without credentials; for an upload, curl sends the whole
    /// body with it, and again with credentials). Name the scheme when known: Basic credentials then go with
    /// the first request, and for Digest curl probes with an empty body first.
    public var authScheme: AuthScheme = .any
    public var connectTimeout: Int = 10
    /// TLS certificates and host names are checked unless this is false (`--insecure`).
    public var verifyTLS = true
    /// Stop the transfer when no byte has moved either way for this many seconds.
    public var stallTimeout: Int = 30
    /// Stopped when ``TransferCancellation`` is requested. False for the requests that clean up after a
    /// cancelled one.
    public var cancellable = true

    public init(method: String, url: String) {
        self.method = method
        self.url = url
    }
}

/// A request body produced while it is sent (``HTTPRequest/Body/stream(size:open:)``), on the transfer's thread.
public protocol UploadStream: AnyObject {
    /// The file the bytes come from, for error messages.
    var path: String { get }
    /// Fills the start of `buffer`; returns how many bytes, 0 at the end.
    /// - Throws: the system's `Errno` when the file cannot be read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Starts again from the first byte (curl sends the body again); false when it cannot.
    func rewind() -> Bool
}

public enum AuthScheme: Sendable, Equatable {
    case any, basic, digest

    /// The scheme a `WWW-Authenticate` challenge asks for, if it is one of ours.
    public init?(challenge: String) {
        let scheme = challenge.prefix { !$0.isWhitespace }.lowercased()
        switch scheme {
        case "digest": self = .digest
        case "basic": self = .basic
        default: return nil
        }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case; the last value wins.
    public var headers: [String: String]
    /// The body, when it was not written to ``HTTPRequest/downloadPath``.
    public var body: [UInt8]
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Performs requests with libcurl's easy interface, one at a time, synchronously (the caller picks the
/// thread). The corresponding C function is `curl_easy_perform`.
public struct HTTPClient: Sendable {
    private static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    public init() {}

    /// - Throws: ``CurlError`` when the transfer fails; an HTTP error status is returned, not thrown.
    public func perform(_ request: HTTPRequest) throws(CurlError) -> HTTPResponse {
        _ = Self.initialised
        let safeURL = Self.redacted(request.url)
        guard let handle = curl_easy_init() else {
            throw CurlError(code: -1, message: "curl_easy_init failed", url: safeURL)
        }
        defer { curl_easy_cleanup(handle) }
        let transfer = Transfer()
        // Every descriptor opened below is closed on every way out, thrown errors included.
        defer {
            try? transfer.input?.close()
            try? transfer.output?.close()
        }
        if let path = request.downloadPath {
            let options: FileDescriptor.OpenOptions = request.appendToDownload ? [.create, .append, .closeOnExec] : [.create, .truncate, .closeOnExec]
            transfer.output = try Self.open(path, .writeOnly, options: options, doing: "cannot create", url: safeURL)
            transfer.outputPath = path
            transfer.onWrite = request.onDownloadWrite
        }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        headerList = curl_slist_append(headerList, "Expect:") // no 100-continue round trip

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        var setupError: CURLcode = CURLE_OK
        func set(_ rc: CURLcode) { if rc != CURLE_OK && setupError == CURLE_OK { setupError = rc } }
        set(cbk_curl_setopt_string(handle, CURLOPT_URL, request.url))
        set(cbk_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(cbk_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, request.connectTimeout))
        // A stall is noticed here rather than with CURLOPT_LOW_SPEED_*: curl averages speed over a window of
        // several seconds, so a transfer that moved data and then stopped would run on for that long.
        transfer.stallTimeout = Double(request.stallTimeout)
        transfer.cancellable = request.cancellable
        if let observer = TransferProgress.observer { transfer.observer = (TransferProgress.nextTransfer(), observer) }
        set(cbk_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        set(cbk_curl_setopt_xferinfo_function(handle, { context, downloaded, _, uploaded, _ in
            guard let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            transfer.observer.map { $0.observer($0.id, Int64(uploaded), Int64(downloaded)) }
            return transfer.progress(moved: Int64(downloaded) + Int64(uploaded)) ? 0 : 1
        }))
        set(cbk_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
        set(cbk_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        // Archives are large: bigger buffers mean fewer system calls and callbacks per MiB moved.
        set(cbk_curl_setopt_long(handle, CURLOPT_BUFFERSIZE, 512 * 1024))
        set(cbk_curl_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024))
        if !request.verifyTLS {
            set(cbk_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0))
            set(cbk_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0))
        }
        set(cbk_curl_setopt_write_function(handle, { data, size, count, context in
            guard let context, let data else { return 0 }
            return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().receive(data, size * count)
        }))
        set(cbk_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set(cbk_curl_setopt_header_function(handle, { data, size, count, context in
            guard let context, let data else { return 0 }
            Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().header(data, size * count)
            return size * count
        }))
        set(cbk_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        if let credentials = request.credentials {
            set(cbk_curl_setopt_string(handle, CURLOPT_USERNAME, credentials.user))
            set(cbk_curl_setopt_string(handle, CURLOPT_PASSWORD, credentials.password))
            let scheme: UInt = switch request.authScheme {
            case .any: cbk_curlauth_basic_or_digest()
            case .basic: cbk_curlauth_basic()
            case .digest: cbk_curlauth_digest()
            }
            set(cbk_curl_setopt_long(handle, CURLOPT_HTTPAUTH, Int(scheme)))
        }
        switch request.method {
        case "GET": break
        case "HEAD": set(cbk_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        default: set(cbk_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        }
        var upload: [UInt8] = []
        switch request.body {
        case .none:
            break
        case .bytes(let bytes):
            upload = bytes
            transfer.source = upload
            set(cbk_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
            set(cbk_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(bytes.count)))
        case .file(let path, let offset, let size):
            transfer.input = try Self.open(path, .readOnly, options: [.closeOnExec], doing: "cannot read", url: safeURL)
            transfer.inputPath = path
            guard offset >= 0, size >= 0 else {
                throw CurlError(code: -1, message: "cannot read \(size) bytes of \(path) from byte \(offset)", url: safeURL,
                                fileError: (.invalidArgument, path, false))
            }
            transfer.inputStart = offset
            transfer.inputRemaining = size
            transfer.inputSize = size
            set(cbk_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
            set(cbk_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(size)))
        case .stream(let size, let open):
            do {
                transfer.stream = try open()
            } catch {
                let errno = error as? Errno ?? .ioError
                throw CurlError(code: -1, message: "cannot read the body to send: \(error)", url: safeURL, fileError: (errno, "", false))
            }
            set(cbk_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
            set(cbk_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(size)))
        }
        if case .none = request.body {} else {
            // CURLOPT_UPLOAD makes it a PUT; a custom method (MKCOL, PROPFIND) keeps its name.
            set(cbk_curl_setopt_read_function(handle, { buffer, size, count, context in
                guard let context, let buffer else { return Int(CURL_READFUNC_ABORT) }
                return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().send(buffer, size * count)
            }))
            set(cbk_curl_setopt_pointer(handle, CURLOPT_READDATA, context))
            set(cbk_curl_setopt_seek_function(handle, { context, offset, origin in
                guard let context, origin == SEEK_SET else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
                return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().seek(to: Int64(offset))
                    ? Int32(CURL_SEEKFUNC_OK) : Int32(CURL_SEEKFUNC_FAIL)
            }))
            set(cbk_curl_setopt_pointer(handle, CURLOPT_SEEKDATA, context))
        }
        guard setupError == CURLE_OK else {
            throw CurlError(code: Int32(setupError.rawValue), message: String(cString: curl_easy_strerror(setupError)), url: safeURL)
        }
        if request.cancellable && TransferCancellation.isRequested {
            throw CurlError(code: Int32(CURLE_ABORTED_BY_CALLBACK.rawValue), message: CurlError.cancelledMessage, url: safeURL)
        }
        let rc = curl_easy_perform(handle)
        if transfer.cancelled {
            throw CurlError(code: Int32(CURLE_ABORTED_BY_CALLBACK.rawValue), message: CurlError.cancelledMessage, url: safeURL)
        }
        if transfer.stalled {
            throw CurlError(code: Int32(CURLE_OPERATION_TIMEDOUT.rawValue),
                            message: "nothing moved for \(request.stallTimeout) s", url: safeURL)
        }
        guard rc == CURLE_OK else {
            throw CurlError(code: Int32(rc.rawValue), message: transfer.failure ?? String(cString: curl_easy_strerror(rc)), url: safeURL,
                            fileError: transfer.fileError)
        }
        var status = 0
        _ = cbk_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: transfer.headers, body: transfer.body)
    }

    /// Opens the local file of a transfer; the caller closes it.
    private static func open(_ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions,
                             doing: String, url: String) throws(CurlError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(FilePath(path), mode, options: options,
                                           permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
        } catch {
            let errno = error as? Errno ?? .ioError
            throw CurlError(code: -1, message: "\(doing) \(path): \(errno)", url: url, fileError: (errno, path, mode != .readOnly))
        }
    }

    /// `url` without user:password.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil || components.user != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }
}

/// The state of one transfer, reached from curl's C callbacks through an unretained pointer.
private final class Transfer {
    var output: FileDescriptor?
    var outputPath = ""
    var onWrite: (@Sendable (Int) -> Void)?
    var input: FileDescriptor?
    var inputPath = ""
    /// Where the body starts in ``input`` and how much of it is left to send.
    var inputStart: Int64 = 0
    var inputRemaining: Int64 = 0
    var inputSize: Int64 = 0
    var source: [UInt8] = []
    var sent = 0
    var stream: (any UploadStream)?
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    /// The status of the response being received.
    var status = 0
    var stallTimeout: Double = 30
    private var lastMoved: Int64 = -1
    private var lastChange = Date()
    /// The transfer was stopped because nothing moved for ``stallTimeout`` seconds.
    var stalled = false
    /// Who hears this transfer's bytes (``TransferProgress``), and its number.
    var observer: (id: Int, observer: TransferProgress.Observer)?
    /// Whether ``TransferCancellation`` stops this transfer, and whether it did.
    var cancellable = true
    var cancelled = false
    /// Why a callback stopped the transfer, and the local file's error when that was the reason.
    var failure: String?
    var fileError: (errno: Errno, path: String, writing: Bool)?

    /// Told how many bytes have moved so far (both ways); false stops the transfer.
    func progress(moved: Int64) -> Bool {
        if cancellable && TransferCancellation.isRequested {
            cancelled = true
            return false
        }
        let now = Date()
        if moved != lastMoved {
            lastMoved = moved
            lastChange = now
            return true
        }
        if now.timeIntervalSince(lastChange) > stallTimeout {
            stalled = true
            return false
        }
        return true
    }

    func receive(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        // Only a successful response's body goes to the file; an error's stays in memory, to be read.
        if let output, (200..<300).contains(status) {
            do {
                try output.writeAll(UnsafeRawBufferPointer(start: data, count: count))
            } catch {
                let errno = error as? Errno ?? .ioError
                failure = "cannot write the download to \(outputPath): \(errno)"
                fileError = (errno, outputPath, true)
                return 0 // curl stops with CURLE_WRITE_ERROR
            }
            onWrite?(count)
            return count
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count))
        return count
    }

    func header(_ data: UnsafeMutablePointer<CChar>, _ count: Int) {
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
        if line.hasPrefix("HTTP/") { // a new response (after 401, say)
            headers.removeAll()
            body.removeAll()
            status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers[name] = value
    }

    func seek(to offset: Int64) -> Bool {
        if let stream { return offset == 0 && stream.rewind() }
        if input != nil {
            guard offset >= 0, offset <= inputSize else { return false }
            inputRemaining = inputSize - offset
            return true
        }
        guard offset >= 0, offset <= Int64(source.count) else { return false }
        sent = Int(offset)
        return true
    }

    func send(_ buffer: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        if let stream {
            do {
                return try stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: count))
            } catch {
                let errno = error as? Errno ?? .ioError
                failure = "cannot read \(stream.path) to send it: \(error)"
                fileError = (errno, stream.path, false)
                return Int(CURL_READFUNC_ABORT)
            }
        }
        if let input {
            let wanted = Int(min(Int64(count), inputRemaining))
            do {
                let n = try input.read(fromAbsoluteOffset: inputStart + inputSize - inputRemaining,
                                       into: UnsafeMutableRawBufferPointer(start: buffer, count: wanted))
                inputRemaining -= Int64(n)
                return n
            } catch {
                let errno = error as? Errno ?? .ioError
                failure = "cannot read \(inputPath) to send it: \(errno)"
                fileError = (errno, inputPath, false)
                return Int(CURL_READFUNC_ABORT)
            }
        }
        let n = min(count, source.count - sent)
        source.withUnsafeBytes { raw in
            if n > 0 { UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + sent, byteCount: n) }
        }
        sent += n
        return n
    }
}
