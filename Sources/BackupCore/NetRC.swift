/// `~/.netrc`: `machine HOST login USER password PASS` (and `default`), tokens separated by any whitespace.
enum NetRC {
    static func parse(_ text: String) -> [String: (user: String, password: String)] {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        var result: [String: (user: String, password: String)] = [:]
        var machine: String?
        var login = "", password = ""
        func flush() {
            if let machine { result[machine] = (login, password) }
        }
        var i = 0
        while i < tokens.count {
            switch tokens[i] {
            case "machine":
                flush()
                machine = i + 1 < tokens.count ? tokens[i + 1] : nil
                login = ""; password = ""
                i += 2
            case "default":
                flush()
                machine = "default"
                login = ""; password = ""
                i += 1
            case "login":
                login = i + 1 < tokens.count ? tokens[i + 1] : ""
                i += 2
            case "password":
                password = i + 1 < tokens.count ? tokens[i + 1] : ""
                i += 2
            default:
                i += 1
            }
        }
        flush()
        return result
    }
}
