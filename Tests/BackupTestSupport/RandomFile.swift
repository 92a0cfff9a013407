import Foundation

extension TemporaryDirectory {
    /// Writes `bytes` random bytes (incompressible, different each run) to `name` in this folder and
    /// returns the file's path. The one helper for "a file of N bytes" in tests.
    @discardableResult
    public func randomFile(_ name: String, bytes: Int) throws -> String {
        try Data(Self.randomBytes(bytes)).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    /// `count` random bytes, eight at a time from the system generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var content = [UInt8](repeating: 0, count: count)
        content.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < count {
                var value = generator.next()
                let n = min(8, count - offset)
                withUnsafeBytes(of: &value) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: n) }
                offset += n
            }
        }
        return content
    }
}
