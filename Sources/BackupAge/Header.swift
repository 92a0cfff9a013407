/// One recipient stanza: `-> TYPE ARG...` and its body (the base64 lines, decoded).
public struct AgeStanza: Sendable, Equatable {
    public let type: String
    public let arguments: [String]
    public let body: [UInt8]

    public init(type: String, arguments: [String], body: [UInt8]) {
        self.type = type
        self.arguments = arguments
        self.body = body
    }

    /// The stanza as the header carries it: the argument line, then the body in 64-column base64
    /// lines ending with a short (possibly empty) line.
    var encoded: [UInt8] {
        var out = Array("-> \(([type] + arguments).joined(separator: " "))\n".utf8)
        let text = Array(Base64.encode(body).utf8)
        var i = 0
        while true {
            let line = text[i..<min(i + 64, text.count)]
            out += line + [0x0a]
            i += 64
            if line.count < 64 { break }
        }
        return out
    }
}

/// The header of an age v1 file: its stanzas, its MAC, and the bytes the MAC covers.
public struct AgeHeader: Sendable {
    static let versionLine = "age-encryption.org/v1"
    static let maxLineLength = 4096
    static let maxStanzas = 4096

    public let stanzas: [AgeStanza]
    let mac: [UInt8]
    /// The header from the version line to `---` inclusive (what the MAC covers).
    let macInput: [UInt8]
    /// Bytes of the whole header, up to and including the MAC line's newline.
    public let length: Int

    /// The stanza types, in header order (what `inspect` reports without a key).
    public var stanzaTypes: [String] { stanzas.map(\.type) }

    /// Builds a header for `stanzas` and the MAC key derived from `fileKey`.
    static func encode(stanzas: [AgeStanza], fileKey: SecretBytes) -> [UInt8] {
        var out = Array("\(versionLine)\n".utf8)
        for stanza in stanzas { out += stanza.encoded }
        out += Array("---".utf8)
        let mac = macFor(out, fileKey: fileKey)
        out += Array(" \(Base64.encode(mac))\n".utf8)
        return out
    }

    static func macFor(_ input: [UInt8], fileKey: SecretBytes) -> [UInt8] {
        let key = HKDF.key(ikm: fileKey.bytes, salt: [], info: "header")
        return input.withUnsafeBytes { Sodium.hmacSHA256(key: key.bytes, [$0]) }
    }

    /// Whether `fileKey` authenticates this header (constant-time comparison).
    func verifies(with fileKey: SecretBytes) -> Bool {
        let expected = Self.macFor(macInput, fileKey: fileKey)
        guard expected.count == mac.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(expected, mac) { diff |= a ^ b }
        return diff == 0
    }

    /// Parses a header strictly (the spec's grammar: exact version line, `-> ` stanzas whose
    /// arguments are non-empty printable ASCII, bodies of full 64-column lines ended by a short line,
    /// canonical unpadded base64, `--- ` and a 32-byte MAC), reading lines from `input`.
    static func parse(from input: AgeInput) throws(AgeError) -> AgeHeader {
        var consumed: [UInt8] = []
        func line() throws(AgeError) -> [UInt8] {
            guard let line = try input.readLine(limit: maxLineLength) else {
                throw .malformedHeader(consumed.isEmpty ? "empty file, not an age file" : "the header ends before its MAC line")
            }
            consumed += line + [0x0a]
            return line
        }
        guard try line() == Array(versionLine.utf8) else {
            throw .malformedHeader("not an age v1 file (the first line is not \(versionLine))")
        }
        var stanzas: [AgeStanza] = []
        while true {
            let current = try line()
            if current.starts(with: Array("---".utf8)) {
                guard current.count > 4, current.starts(with: Array("--- ".utf8)) else { throw .malformedHeader("malformed MAC line") }
                guard let mac = Base64.decode(current[4...]), mac.count == 32 else {
                    throw .malformedHeader("the MAC is not 32 bytes of canonical base64")
                }
                guard !stanzas.isEmpty else { throw .malformedHeader("no recipient stanzas") }
                let macInput = Array(consumed[..<(consumed.count - current.count - 1 + 3)])
                return AgeHeader(stanzas: stanzas, mac: mac, macInput: macInput, length: consumed.count)
            }
            guard current.starts(with: Array("-> ".utf8)) else { throw .malformedHeader("a line that is neither a stanza nor the MAC") }
            let fields = current[3...].split(separator: 0x20, omittingEmptySubsequences: false)
            for field in fields {
                guard !field.isEmpty, field.allSatisfy({ $0 >= 33 && $0 <= 126 }) else {
                    throw .malformedHeader("a stanza argument is empty or not printable ASCII")
                }
            }
            var body: [UInt8] = []
            while true {
                let bodyLine = try line()
                guard bodyLine.count <= 64 else { throw .malformedHeader("a stanza body line is longer than 64 columns") }
                guard let decoded = Base64.decode(bodyLine) else { throw .malformedHeader("a stanza body is not canonical unpadded base64") }
                body += decoded
                if bodyLine.count < 64 { break }
            }
            let strings = fields.map { String(decoding: $0, as: UTF8.self) }
            stanzas.append(AgeStanza(type: strings[0], arguments: Array(strings.dropFirst()), body: body))
            guard stanzas.count <= maxStanzas else { throw .malformedHeader("more than \(maxStanzas) stanzas") }
        }
    }
}

/// Buffered reading from a source: lines for the header, exact counts for the payload.
final class AgeInput {
    private let source: (UnsafeMutableRawBufferPointer) throws -> Int
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    private var atEOF = false
    /// Bytes handed out so far (header, nonce and payload).
    private(set) var position: Int64 = 0

    init(capacity: Int = 128 * 1024, source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.source = source
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    private func fill() throws(AgeError) {
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        while !atEOF && end < buffer.count {
            let n: Int
            do {
                n = try source(UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            } catch let error as AgeError {
                throw error
            } catch {
                throw .damagedPayload("reading failed: \(error)")
            }
            if n == 0 { atEOF = true } else { end += n }
            if n > 0 { break }
        }
    }

    /// The next line without its `\n`, nil at a clean end of input; a line without `\n` at the end
    /// of input or longer than `limit` is malformed.
    func readLine(limit: Int) throws(AgeError) -> [UInt8]? {
        var scanned = start
        while true {
            if let newline = UnsafeRawBufferPointer(rebasing: buffer[scanned..<end]).firstIndex(of: 0x0a) {
                let index = scanned + newline
                let line = Array(buffer[start..<index])
                position += Int64(index + 1 - start)
                start = index + 1
                return line
            }
            guard end - start <= limit else { throw .malformedHeader("a header line is longer than \(limit) bytes") }
            if atEOF {
                if end == start { return nil }
                throw .malformedHeader("the header ends in the middle of a line")
            }
            let had = end - start
            try fill()
            scanned = start + had
        }
    }

    /// Copies up to `out.count` bytes, fewer only at the end of input.
    func readFull(into out: UnsafeMutableRawBufferPointer) throws(AgeError) -> Int {
        var copied = 0
        while copied < out.count {
            if start == end {
                if atEOF { break }
                // Large reads go straight to the destination, past the buffer.
                if out.count - copied >= buffer.count / 2 {
                    let n: Int
                    do {
                        n = try source(UnsafeMutableRawBufferPointer(rebasing: out[copied...]))
                    } catch let error as AgeError {
                        throw error
                    } catch {
                        throw .damagedPayload("reading failed: \(error)")
                    }
                    if n == 0 { atEOF = true } else { copied += n; position += Int64(n) }
                    continue
                }
                try fill()
                continue
            }
            let n = min(end - start, out.count - copied)
            (out.baseAddress! + copied).copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            start += n
            copied += n
            position += Int64(n)
        }
        return copied
    }
}
