import SystemPackage

/// Random access to the plaintext of an age file on disk: any range is decrypted from the chunks that hold
/// it (chunk `i` sits at `payloadOffset + i × (64 KiB + 16)`), each opened with its own tag, so several
/// threads can read different parts at once. Where the payload ends follows from the file's size, and the
/// chunk there is opened only with the last-chunk nonce: a truncated file, a missing final chunk or data
/// after it fail like a modified byte. A reader that reads every byte of the plaintext has authenticated
/// the whole file. Holds only the payload key (wiped when it goes) and the descriptor, which the caller
/// owns.
public final class AgeRandomAccess: @unchecked Sendable {
    public let header: AgeHeader
    /// Bytes of plaintext.
    public let plaintextSize: Int64
    private let payloadKey: SecretBytes
    private let file: FileDescriptor
    private let payloadOffset: Int64
    private let chunkCount: Int64

    /// Reads and checks the header of the age file `file` (of `fileSize` bytes) with `identities`.
    /// - Throws: as ``AgeDecryptor``'s initializer; ``AgeError/damagedPayload(_:)`` when the payload's
    ///   size cannot be a STREAM's (a final chunk shorter than its tag, or empty after data).
    public init(identities: [any AgeIdentityProtocol], file: FileDescriptor, fileSize: Int64) throws(AgeError) {
        var position: Int64 = 0
        let input = AgeInput(capacity: 4096) { buffer in
            let n = try file.read(fromAbsoluteOffset: position, into: buffer)
            position += Int64(n)
            return n
        }
        let (header, key) = try AgeDecryptor.open(input, identities: identities)
        let payload = fileSize - input.position
        let sealed = Int64(AgeSTREAM.sealedChunkSize)
        let chunks = max(1, (payload + sealed - 1) / sealed)
        let lastSealed = payload - (chunks - 1) * sealed
        guard payload >= Int64(Sodium.tagBytes), lastSealed >= Int64(Sodium.tagBytes) else {
            throw .damagedPayload("truncated: the payload ends inside a chunk's tag")
        }
        guard !(chunks > 1 && lastSealed == Int64(Sodium.tagBytes)) else {
            throw .damagedPayload("the final chunk is empty after data")
        }
        self.header = header
        payloadKey = key
        self.file = file
        payloadOffset = input.position
        chunkCount = chunks
        plaintextSize = (chunks - 1) * Int64(AgeSTREAM.chunkSize) + lastSealed - Int64(Sodium.tagBytes)
    }

    /// Fills `buffer` with plaintext from `offset`; fewer bytes only at the end of the plaintext.
    /// - Throws: ``AgeError/damagedPayload(_:)`` for a chunk that does not authenticate; what reading threw.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(AgeError) -> Int {
        guard offset >= 0, offset < plaintextSize, buffer.count > 0 else { return 0 }
        let chunkSize = Int64(AgeSTREAM.chunkSize)
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: AgeSTREAM.sealedChunkSize, alignment: 16)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: AgeSTREAM.chunkSize, alignment: 16)
        defer {
            sodium_wipe(plain)
            plain.deallocate()
            sealed.deallocate()
        }
        var copied = 0
        var at = offset
        while copied < buffer.count && at < plaintextSize {
            let index = at / chunkSize
            let last = index == chunkCount - 1
            let length = last ? Int(plaintextSize - index * chunkSize) + Sodium.tagBytes : AgeSTREAM.sealedChunkSize
            let ciphertext = UnsafeMutableRawBufferPointer(rebasing: sealed[0..<length])
            var got = 0
            while got < length {
                let n: Int
                do {
                    n = try file.read(fromAbsoluteOffset: payloadOffset + index * Int64(AgeSTREAM.sealedChunkSize) + Int64(got),
                                      into: UnsafeMutableRawBufferPointer(rebasing: ciphertext[got...]))
                } catch {
                    throw .damagedPayload("reading failed: \(error)")
                }
                guard n > 0 else { throw .damagedPayload("truncated: chunk \(index) is cut short") }
                got += n
            }
            let opened = AgeSTREAM.chunkNonce(index, last: last).withUnsafeBytes {
                Sodium.open(key: payloadKey.bytes, nonce: $0, ciphertext: UnsafeRawBufferPointer(ciphertext),
                            into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<(length - Sodium.tagBytes)]))
            }
            guard opened else { throw .damagedPayload("chunk \(index) does not authenticate (modified or truncated)") }
            let within = Int(at - index * chunkSize)
            let n = min(length - Sodium.tagBytes - within, buffer.count - copied)
            (buffer.baseAddress! + copied).copyMemory(from: plain.baseAddress! + within, byteCount: n)
            copied += n
            at += Int64(n)
        }
        return copied
    }
}
