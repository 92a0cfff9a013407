/// A small, fast, seeded source of realistic-looking content: prose, code, JSON, ANSI terminal
/// output, identifiers. Deterministic for a seed (SplitMix64).
struct TextSynth {
    private var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func chance(_ probability: Double) -> Bool {
        Double(next() % 1_000_000) / 1_000_000 < probability
    }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[Int(next() & 15)] })
    }

    mutating func uuid() -> String {
        "\(hex(8))-\(hex(4))-4\(hex(3))-\(pick(["8", "9", "a", "b"]))\(hex(3))-\(hex(12))"
    }

    static let words: [[UInt8]] = """
        the a of to and in is that for it with as on be this by are from or an which can we will have not
        function return value error session project file database migration schema index query table row column
        user request response model token stream worker queue job status update create delete select insert merge
        config option path directory terminal output input process thread async await result handler client server
        plan implementation step test build deploy review change commit branch cache memory timeout retry backup
        restore archive manifest checksum compress decompress upload download storage bucket object prefix key
        should must could would because however therefore then when while until after before during although
        carefully quickly correctly safely explicitly implicitly incrementally consistently eventually currently
        component module service layer interface protocol struct class enum method property parameter argument
        handle validate parse render encode decode serialize transform filter sort group aggregate compute
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Array($0.utf8) }

    static let unicodeFragments: [[UInt8]] = [
        "🚀", "✅", "⚠️", "数据库迁移", "会话管理", "テスト", "مشروع جديد", "שלום עולם", "Größenänderung", "naïve café", "Ωμέγα",
    ].map { Array($0.utf8) }

    /// Prose of about `bytes` bytes: sentences, paragraphs, now and then a non-ASCII fragment.
    mutating func prose(_ bytes: Int, into out: inout [UInt8]) {
        let end = out.count + bytes
        var sentenceStart = true
        var wordsInSentence = 0
        while out.count < end {
            if next() % 97 == 0 {
                out.append(contentsOf: pick(Self.unicodeFragments))
            } else {
                var word = pick(Self.words)
                if sentenceStart, let first = word.first, first >= 97, first <= 122 { word[0] = first - 32 }
                out.append(contentsOf: word)
            }
            sentenceStart = false
            wordsInSentence += 1
            if wordsInSentence > int(6...18) {
                out.append(contentsOf: next() % 5 == 0 ? Array(".\n\n".utf8) : Array(". ".utf8))
                sentenceStart = true
                wordsInSentence = 0
            } else {
                out.append(next() % 11 == 0 ? UInt8(ascii: ",") : UInt8(ascii: " "))
                if out.last == UInt8(ascii: ",") { out.append(UInt8(ascii: " ")) }
            }
        }
    }

    /// A code line template: literal bytes and slots (a = identifier, C = type name, n = number, p = comment).
    enum Piece { case literal([UInt8]), slot(Character) }

    static let codeLines: [[Piece]] = [
        "    let {a} = try await {a}.{a}(for: {a})",
        "    guard let {a} = {a}[{a}] else { return nil }",
        "    if {a}.count > {n} { {a}.append({a}) }",
        "fn {a}(&self, {a}: &{C}) -> Result<{C}, Error> {",
        "    for {a} in {a}.iter().filter(|x| x.{a} > {n}) {",
        "export async function {a}({a}: {C}): Promise<void> {",
        "  const {a} = await invoke('{a}', { {a}, {a} });",
        "SELECT {a}, {a} FROM {a} WHERE {a} = ? ORDER BY {a} LIMIT {n};",
        "    // {p}",
        "}",
        "",
        "    return {a}.map(|{a}| {a}.{a}()).collect();",
        "  {a}.set{C}({a} ?? {n});",
    ].map(Self.compile)

    static func compile(_ template: String) -> [Piece] {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var chars = Array(template)
        var i = 0
        while i < chars.count {
            if chars[i] == "{", i + 2 < chars.count, chars[i + 2] == "}", "aCnp".contains(chars[i + 1]) {
                if !literal.isEmpty { pieces.append(.literal(literal)); literal = [] }
                pieces.append(.slot(chars[i + 1]))
                i += 3
            } else {
                literal.append(contentsOf: Array(String(chars[i]).utf8))
                i += 1
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        chars.removeAll()
        return pieces
    }

    static let identifiers: [[UInt8]] = ["session", "jobId", "projectHash", "db", "conn", "rows", "payload", "manifest", "state",
                                         "config", "result", "handler", "items", "cursor", "stream", "buffer", "taskType", "store"].map { Array($0.utf8) }
    static let typeNames: [[UInt8]] = ["Session", "BackgroundJob", "AppState", "Manifest", "String"].map { Array($0.utf8) }
    static let languages: [[UInt8]] = ["rust", "typescript", "swift", "sql"].map { Array("```\($0)\n".utf8) }

    /// Source code of about `bytes` bytes, in a fenced block.
    mutating func code(_ bytes: Int, into out: inout [UInt8]) {
        let end = out.count + bytes
        out.append(contentsOf: pick(Self.languages))
        while out.count < end {
            for piece in pick(Self.codeLines) {
                switch piece {
                case .literal(let bytes): out.append(contentsOf: bytes)
                case .slot("a"): out.append(contentsOf: pick(Self.identifiers))
                case .slot("C"): out.append(contentsOf: pick(Self.typeNames))
                case .slot("n"): out.append(contentsOf: Array(String(int(0...4096)).utf8))
                default:
                    var comment: [UInt8] = []
                    prose(int(20...80), into: &comment)
                    out.append(contentsOf: comment.filter { $0 != 10 })
                }
            }
            out.append(10)
        }
        out.append(contentsOf: [96, 96, 96, 10])
    }

    /// A prompt or a response: prose and code interleaved, about `bytes` bytes.
    mutating func document(_ bytes: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes + 512)
        while out.count < bytes {
            let remaining = bytes - out.count
            if chance(0.4) {
                code(min(remaining, int(400...4000)), into: &out)
            } else {
                prose(min(remaining, int(300...3000)), into: &out)
                out.append(contentsOf: [10, 10])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let ansi: [String] = ["\u{1B}[32m", "\u{1B}[31m", "\u{1B}[1;34m", "\u{1B}[0m", "\u{1B}[2K\r", "\u{1B}[33m", "\u{1B}[?25l", "\u{1B}[?25h"]

    /// Terminal output with ANSI escapes, about `bytes` bytes.
    mutating func terminalLog(_ bytes: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes + 256)
        var lineNumber = 0
        while out.count < bytes {
            lineNumber += 1
            if chance(0.3) { out.append(contentsOf: Array(pick(Self.ansi).utf8)) }
            switch int(0...5) {
            case 0: out.append(contentsOf: Array("$ cargo build --release\r\n".utf8))
            case 1:
                out.append(contentsOf: Array("   Compiling ".utf8)); out.append(contentsOf: pick(Self.identifiers))
                out.append(contentsOf: Array(" v0.\(int(1...9)).\(int(0...30))\r\n".utf8))
            case 2:
                out.append(contentsOf: Array("[\(int(0...23)):\(int(10...59)):\(int(10...59))] INFO ".utf8))
                prose(int(30...120), into: &out)
                out.append(contentsOf: [13, 10])
            case 3:
                out.append(contentsOf: Array("test ".utf8)); out.append(contentsOf: pick(Self.identifiers))
                out.append(contentsOf: Array(" ... \u{1B}[32mok\u{1B}[0m\r\n".utf8))
            case 4: out.append(contentsOf: Array("\u{1B}[2K\rProgress: \(int(0...100))% [\(String(repeating: "=", count: int(0...30)))>]".utf8))
            default: code(int(100...400), into: &out)
            }
            if chance(0.3) { out.append(contentsOf: Array("\u{1B}[0m".utf8)) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
