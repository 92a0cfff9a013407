import BackupSystem
import SystemPackage

/// STREAM (age's payload): 64 KiB plaintext chunks, each sealed with ChaCha20-Poly1305 under the
/// payload key and the nonce `counter (11 bytes, big-endian) || last flag (1 byte)`.
enum AgeSTREAM {
    static let chunkSize = 64 * 1024
    static let sealedChunkSize = chunkSize + Sodium.tagBytes
    static let nonceSize = 16

    static func chunkNonce(_ index: Int64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        var counter = UInt64(index)
        for i in stride(from: 10, through: 3, by: -1) {
            nonce[i] = UInt8(counter & 0xff)
            counter >>= 8
        }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    static func payloadKey(fileKey: SecretBytes, nonce: [UInt8]) -> SecretBytes {
        HKDF.key(ikm: fileKey.bytes, salt: nonce, info: "payload")
    }
}

/// Where ciphertext goes: bytes at absolute offsets (a file through BackupSystem's `DescriptorOutput`, or
/// any sequential sink when the encryptor has no reserved prefix: offsets then only grow).
public typealias AgeCiphertextSink = PositionalOutput

/// Encrypts a plaintext stream to an age file as it is written, in flat memory.
///
/// The plaintext may begin with a reserved prefix of `reservedPrefix` bytes that the caller fills
/// last (``fillPrefix(_:)``), as the archive writer does with its head: body bytes are written
/// sequentially from plaintext offset `reservedPrefix` on. Chunks overlapping the prefix are kept in
/// memory and sealed at ``finish()``; every later chunk is sealed once it is known not to be the last
/// and written at its fixed ciphertext offset `headerLength + 16 + i × (65536 + 16)`. Every chunk is
/// sealed exactly once (one nonce, one plaintext). Use from one thread at a time.
public final class AgeEncryptor {
    public let sink: any AgeCiphertextSink
    public let reservedPrefix: Int
    /// Bytes of header plus payload nonce, where chunk 0's ciphertext begins.
    public let payloadOffset: Int64
    private let payloadKey: SecretBytes
    private let heldChunks: Int
    private var held: UnsafeMutableRawBufferPointer
    private var current: UnsafeMutableRawBufferPointer
    private var sealed: UnsafeMutableRawBufferPointer
    private var hasCurrent = false
    private var currentFill = 0
    private var position: Int64
    private var prefixFilled: Bool
    private var finished = false
    /// Total ciphertext bytes, set by ``finish()``.
    public private(set) var ciphertextBytes: Int64 = 0

    /// Writes the header (stanzas for every recipient) and the payload nonce at offset 0.
    /// - Throws: ``AgeError/invalidKey(_:)`` for no recipients or a scrypt recipient with others; what the sink throws.
    public init(recipients: [any AgeRecipientProtocol], sink: any AgeCiphertextSink, reservedPrefix: Int = 0) throws {
        guard !recipients.isEmpty else { throw AgeError.invalidKey("no recipients to encrypt to") }
        if recipients.contains(where: { $0 is AgePassphrase }) && recipients.count > 1 {
            throw AgeError.invalidKey("a passphrase cannot be combined with other recipients (age's scrypt stanza must be alone)")
        }
        precondition(reservedPrefix >= 0)
        let fileKey = SecretBytes.random(count: fileKeySize)
        var stanzas: [AgeStanza] = []
        for recipient in recipients { stanzas.append(try recipient.wrap(fileKey)) }
        let nonce = Array(SecretBytes.random(count: AgeSTREAM.nonceSize).bytes)
        let header = AgeHeader.encode(stanzas: stanzas, fileKey: fileKey) + nonce
        payloadKey = AgeSTREAM.payloadKey(fileKey: fileKey, nonce: nonce)
        self.sink = sink
        self.reservedPrefix = reservedPrefix
        payloadOffset = Int64(header.count)
        heldChunks = (reservedPrefix + AgeSTREAM.chunkSize - 1) / AgeSTREAM.chunkSize
        held = .allocate(byteCount: max(heldChunks * AgeSTREAM.chunkSize, 1), alignment: 16)
        held.initializeMemory(as: UInt8.self, repeating: 0)
        current = .allocate(byteCount: AgeSTREAM.chunkSize, alignment: 16)
        sealed = .allocate(byteCount: AgeSTREAM.sealedChunkSize, alignment: 16)
        position = Int64(reservedPrefix)
        prefixFilled = reservedPrefix == 0
        try header.withUnsafeBytes { try sink.write($0, at: 0) }
    }

    deinit {
        for buffer in [held, current, sealed] {
            sodium_wipe(buffer)
            buffer.deallocate()
        }
    }

    /// Plaintext bytes written so far (prefix included).
    public var plaintextBytes: Int64 { position }

    /// Appends body bytes (after the reserved prefix).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw AgeError.misuse("write after finish") }
        var input = bytes
        let size = Int64(AgeSTREAM.chunkSize)
        while input.count > 0 {
            let index = position / size
            let offset = Int(position % size)
            let n = min(input.count, AgeSTREAM.chunkSize - offset)
            if index < heldChunks {
                (held.baseAddress! + Int(index) * AgeSTREAM.chunkSize + offset).copyMemory(from: input.baseAddress!, byteCount: n)
            } else {
                if offset == 0 && hasCurrent {
                    // More data follows, so the full chunk before it is not the last.
                    try seal(UnsafeRawBufferPointer(current), index: index - 1, last: false)
                }
                hasCurrent = true
                (current.baseAddress! + offset).copyMemory(from: input.baseAddress!, byteCount: n)
                currentFill = offset + n
            }
            position += Int64(n)
            input = UnsafeRawBufferPointer(rebasing: input[n...])
        }
    }

    /// Fills the reserved prefix: exactly `reservedPrefix` bytes, once, any time before ``finish()``.
    public func fillPrefix(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished, !prefixFilled else { throw AgeError.misuse("the prefix is already written") }
        guard bytes.count == reservedPrefix else { throw AgeError.misuse("the prefix is \(bytes.count) bytes, not \(reservedPrefix)") }
        held.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        prefixFilled = true
    }

    /// Seals the held chunks and the last chunk. Returns the total ciphertext size.
    @discardableResult
    public func finish() throws -> Int64 {
        guard !finished else { throw AgeError.misuse("finish called twice") }
        guard prefixFilled else { throw AgeError.misuse("finish before the reserved prefix was written") }
        finished = true
        let size = Int64(AgeSTREAM.chunkSize)
        let total = position
        let lastIndex = total == 0 ? 0 : (total - 1) / size
        for i in 0..<Int64(heldChunks) {
            let length = Int(min(size, total - i * size))
            let chunk = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(held)[Int(i) * AgeSTREAM.chunkSize..<Int(i) * AgeSTREAM.chunkSize + length])
            try seal(chunk, index: i, last: i == lastIndex)
        }
        if hasCurrent {
            try seal(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(current)[0..<currentFill]), index: lastIndex, last: true)
        } else if total == 0 {
            try seal(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(current)[0..<0]), index: 0, last: true)
        }
        ciphertextBytes = payloadOffset + (lastIndex + 1) * Int64(Sodium.tagBytes) + total
        return ciphertextBytes
    }

    /// The highest index sealed so far, and the next held chunk to seal (held chunks go at finish, in order).
    private var lastSealed: Int64 = -1
    private var nextHeld: Int64 = 0

    private func seal(_ chunk: UnsafeRawBufferPointer, index: Int64, last: Bool) throws {
        // One nonce, one plaintext: a chunk index is never sealed twice. Held chunks (below heldChunks) are
        // sealed once each, in order, at finish; the others strictly in increasing order.
        if index < Int64(heldChunks) {
            precondition(finished && index == nextHeld, "STREAM chunk \(index) sealed out of order or twice")
            nextHeld += 1
        } else {
            precondition(index > lastSealed, "STREAM chunk \(index) sealed twice")
            lastSealed = index
        }
        let nonce = AgeSTREAM.chunkNonce(index, last: last)
        let out = UnsafeMutableRawBufferPointer(rebasing: sealed[0..<chunk.count + Sodium.tagBytes])
        nonce.withUnsafeBytes { Sodium.seal(key: payloadKey.bytes, nonce: $0, plaintext: chunk, into: out) }
        try sink.write(UnsafeRawBufferPointer(out), at: payloadOffset + index * Int64(AgeSTREAM.sealedChunkSize))
    }
}

/// Ciphertext size for `plaintext` bytes after a header of `payloadOffset` bytes (header + nonce).
public func ageCiphertextSize(plaintext: Int64, payloadOffset: Int64) -> Int64 {
    let chunks = plaintext == 0 ? 1 : (plaintext + Int64(AgeSTREAM.chunkSize) - 1) / Int64(AgeSTREAM.chunkSize)
    return payloadOffset + chunks * Int64(Sodium.tagBytes) + plaintext
}

/// Reads an age file: parses the header, unwraps the file key with the given identities, checks the
/// header MAC, then releases the payload chunk by chunk (flat memory). Truncation at any point, a
/// missing final chunk, an empty final chunk after data, trailing data and any modified byte are
/// ``AgeError/damagedPayload(_:)``. Not thread-safe.
public final class AgeDecryptor {
    private let input: AgeInput
    public let header: AgeHeader
    private var payloadKey: SecretBytes
    private let sealed: UnsafeMutableRawBufferPointer
    private let plain: UnsafeMutableRawBufferPointer
    private var plainStart = 0, plainEnd = 0
    private var index: Int64 = 0
    private var sawLast = false
    private var done = false
    private var failure: AgeError?

    /// Reads and checks the header from `source` (a read function returning 0 at the end).
    /// - Throws: ``AgeError/malformedHeader(_:)``, ``AgeError/noMatchingIdentity(types:)``,
    ///   ``AgeError/headerMACMismatch``.
    public init(identities: [any AgeIdentityProtocol], source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws(AgeError) {
        let input = AgeInput(source: source)
        let (header, payloadKey) = try Self.open(input, identities: identities)
        self.input = input
        self.header = header
        self.payloadKey = payloadKey
        sealed = .allocate(byteCount: AgeSTREAM.sealedChunkSize, alignment: 16)
        plain = .allocate(byteCount: AgeSTREAM.chunkSize, alignment: 16)
    }

    /// Reads the header and the payload nonce from `input`, unwraps the file key with `identities` and
    /// checks the header MAC; the payload key. `input.position` is then where the payload starts.
    static func open(_ input: AgeInput, identities: [any AgeIdentityProtocol]) throws(AgeError) -> (AgeHeader, SecretBytes) {
        let header = try AgeHeader.parse(from: input)
        if header.stanzas.contains(where: { $0.type == "scrypt" }) && header.stanzas.count != 1 {
            throw .malformedHeader("a scrypt stanza must be the only one")
        }
        var fileKey: SecretBytes?
        search: for identity in identities {
            for stanza in header.stanzas {
                if let key = try identity.unwrap(stanza) {
                    fileKey = key
                    break search
                }
            }
        }
        guard let fileKey else { throw .noMatchingIdentity(types: header.stanzaTypes) }
        guard header.verifies(with: fileKey) else { throw .headerMACMismatch }
        let nonceBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: AgeSTREAM.nonceSize, alignment: 1)
        defer { nonceBuffer.deallocate() }
        let n = try input.readFull(into: nonceBuffer)
        let nonce = Array(nonceBuffer)
        guard n == AgeSTREAM.nonceSize else { throw .malformedHeader("the payload nonce is missing or short") }
        return (header, AgeSTREAM.payloadKey(fileKey: fileKey, nonce: nonce))
    }


    /// Reads from a file descriptor (from its current position).
    public convenience init(identities: [any AgeIdentityProtocol], fileDescriptor: FileDescriptor) throws(AgeError) {
        let source: (UnsafeMutableRawBufferPointer) throws -> Int = { buffer in try fileDescriptor.read(into: buffer) }
        try self.init(identities: identities, source: source)
    }

    /// Parses only the header (no key needed): what it is encrypted to.
    public static func readHeader(source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws(AgeError) -> AgeHeader {
        try AgeHeader.parse(from: AgeInput(source: source))
    }

    deinit {
        sodium_wipe(plain)
        plain.deallocate()
        sealed.deallocate()
    }

    /// The next chunk's plaintext (valid until the next call), nil after the verified end.
    public func nextChunk() throws(AgeError) -> UnsafeRawBufferPointer? {
        if let failure { throw failure }
        do {
            guard try decryptNext() else { return nil }
        } catch {
            failure = error
            throw error
        }
        let chunk = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(plain)[plainStart..<plainEnd])
        plainStart = plainEnd
        return chunk
    }

    /// Copies plaintext into `buffer`; 0 only at the verified end of the payload.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(AgeError) -> Int {
        if plainStart == plainEnd {
            if let failure { throw failure }
            do {
                guard try decryptNext() else { return 0 }
            } catch {
                failure = error
                throw error
            }
            if plainStart == plainEnd { return try read(into: buffer) }
        }
        let n = min(buffer.count, plainEnd - plainStart)
        buffer.baseAddress!.copyMemory(from: plain.baseAddress! + plainStart, byteCount: n)
        plainStart += n
        return n
    }

    /// Decrypts the next chunk into `plain`; false at the verified end.
    private func decryptNext() throws(AgeError) -> Bool {
        if done { return false }
        if sawLast {
            // After the last chunk the input must end.
            let extra = try input.readFull(into: UnsafeMutableRawBufferPointer(rebasing: sealed[0..<1]))
            guard extra == 0 else { throw .damagedPayload("trailing data after the final chunk") }
            done = true
            return false
        }
        let n = try input.readFull(into: sealed)
        if n == 0 {
            throw .damagedPayload(index == 0 ? "the payload has no chunks" : "truncated: the final chunk is missing after chunk \(index - 1)")
        }
        let ciphertext = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(sealed)[0..<n])
        var last = n < AgeSTREAM.sealedChunkSize
        if last && index > 0 && n == Sodium.tagBytes {
            throw .damagedPayload("the final chunk is empty after data")
        }
        var opened = AgeSTREAM.chunkNonce(index, last: last).withUnsafeBytes {
            Sodium.open(key: payloadKey.bytes, nonce: $0, ciphertext: ciphertext, into: plain)
        }
        if !opened && !last {
            // A full-size chunk may be the last one.
            last = true
            opened = AgeSTREAM.chunkNonce(index, last: true).withUnsafeBytes {
                Sodium.open(key: payloadKey.bytes, nonce: $0, ciphertext: ciphertext, into: plain)
            }
        }
        guard opened else {
            throw .damagedPayload(n < Sodium.tagBytes ? "chunk \(index) is truncated" : "chunk \(index) does not authenticate (modified or truncated)")
        }
        plainStart = 0
        plainEnd = n - Sodium.tagBytes
        index += 1
        sawLast = last
        return true
    }
}

func sodium_wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    if let base = buffer.baseAddress, buffer.count > 0 { sodiumMemzero(base, buffer.count) }
}
