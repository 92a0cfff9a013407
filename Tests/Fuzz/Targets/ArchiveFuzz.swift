// libFuzzer target: untrusted archive bytes through the parsers format 2 reads before anything else —
// the seek table at the end (`SeekTable.tableSize`, `SeekTable(parsing:fileSize:)`), each frame it lists
// (`ZstdFrameDecoder`, bounded to 4 MiB), and the tar headers of the head (`TarLayout.entries(in:)`).
// Built by Scripts/fuzz with the module's own sources; never part of the package build.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArchive(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = TarLayout.entries(in: bytes)
    guard bytes.count >= SeekTable.footerSize,
          let tableSize = try? SeekTable.tableSize(footer: Array(bytes.suffix(SeekTable.footerSize))),
          tableSize <= bytes.count,
          let table = try? SeekTable(parsing: Array(bytes.suffix(tableSize)), fileSize: Int64(bytes.count)),
          let decoder = try? ZstdFrameDecoder() else { return 0 }
    for index in table.frames.indices {
        let frame = table.frames[index]
        guard frame.decompressedSize <= 4 << 20 else { continue }
        let start = Int(table.offsets(of: index).compressed)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(frame.decompressedSize), alignment: 16)
        defer { output.deallocate() }
        bytes[start..<start + Int(frame.compressedSize)].withUnsafeBytes { input in
            _ = try? decoder.decompress(frame: input, into: output, context: "fuzz")
            return ()
        }
    }
    return 0
}
