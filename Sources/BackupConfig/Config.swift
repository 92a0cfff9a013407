import Foundation
import TOMLKit

/// A mistake in the config file: where (file, line, key) and what. Exit code 78 (EX_CONFIG).
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let key: String?
    public let message: String

    public init(path: String, line: Int? = nil, key: String? = nil, _ message: String) {
        self.path = path
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        "\(path)\(line.map { ":\($0)" } ?? "")\(key.map { ": \($0)" } ?? ""): \(message)"
    }
}

/// A secret named by reference, never written in the file: an environment variable or a command whose
/// first line of output is the secret (run without a shell).
public enum SecretReference: Sendable, Equatable {
    case environment(String)
    case command(String)

    /// The secret's value.
    /// - Throws: ``ConfigError`` naming the variable or the command (never the secret).
    public func resolve(environment: [String: String], configPath: String, key: String) throws -> String {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ConfigError(path: configPath, key: key, "the environment variable \(name) is not set")
            }
            return value
        case .command(let command):
            let words = command.split(separator: " ").map(String.init)
            guard let program = words.first else { throw ConfigError(path: configPath, key: key, "the command is empty") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
            process.arguments = program.hasPrefix("/") ? Array(words.dropFirst()) : words
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            do { try process.run() } catch {
                throw ConfigError(path: configPath, key: key, "cannot run `\(program)`: \(error)")
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ConfigError(path: configPath, key: key, "`\(program)` exited with \(process.terminationStatus)")
            }
            let first = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !first.isEmpty else { throw ConfigError(path: configPath, key: key, "`\(program)` printed nothing") }
            return first
        }
    }
}

/// `[remote.NAME]`: where archives go, with its settings and secrets by reference.
public struct RemoteConfig: Sendable, Equatable {
    public var name: String
    public var url: String
    public var endpoint: String?
    public var region: String?
    public var profile: String?
    public var addressing: String?
    public var user: String?
    public var password: SecretReference?
    public var accessKeyID: SecretReference?
    public var secretAccessKey: SecretReference?
}

/// `[profile.NAME]`: one scheduled job. Keys are the long flags of the commands it runs, `-` written `_`.
public struct Profile: Sendable, Equatable {
    public var name: String
    public var db: String?
    public var output: String?
    public var to: String?
    public var level: Int?
    public var olderThan: String?
    public var ahead: String?
    public var sessionsOlderThan: String?
    public var cleanup = false
    public var noDelete = false
    public var keepLast: Int?
    public var keepHourly: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    public var keepWithin: String?
    public var onFailure: String?
    public var pingURL: String?
    /// `encrypt_to = ["age1..."]`: age recipients the archive is encrypted to.
    public var encryptTo: [String] = []
    /// `encrypt_to_file`: an age recipients file.
    public var encryptToFile: String?
    /// `passphrase_env` / `passphrase_command`: encrypt with a passphrase (age scrypt), by reference.
    public var passphrase: SecretReference?
    /// `identity_file`: what opens the archive for the verify steps (needed with `encrypt_to`).
    public var identityFile: String?
    /// `redact_env = true`: secret-looking environment variables redacted in the archive.
    public var redactEnv = false

    /// Whether the profile encrypts its archives.
    public var encrypts: Bool { !encryptTo.isEmpty || encryptToFile != nil || passphrase != nil }

    /// Whether the profile says how to prune.
    public var prunes: Bool {
        [keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly].contains { $0 != nil } || keepWithin != nil
    }
}

/// `config.toml`: named remotes and profiles, validated when read (unknown keys and wrong types are
/// errors with file, line and key).
public struct ConfigFile: Sendable {
    public let path: String
    public var remotes: [String: RemoteConfig] = [:]
    public var profiles: [String: Profile] = [:]
    /// Things to say though nothing is wrong (a file others can read).
    public var warnings: [String] = []

    /// `--config`, else `PTC_BACKUP_CONFIG`, else `$XDG_CONFIG_HOME/ptc-backup/config.toml` (default
    /// `~/.config`).
    public static func location(explicit: String?, environment: [String: String]) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["PTC_BACKUP_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
        return base + "/ptc-backup/config.toml"
    }

    /// An empty configuration (no file).
    public init(path: String) { self.path = path }

    /// Reads and validates the file at `path`.
    /// - Throws: ``ConfigError``.
    public static func load(_ path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(path: path, "cannot read the config file (missing, or not readable)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(path: path, line: error.source.begin.line, error.description)
        }
        var config = ConfigFile(path: path)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let reader = Reader(path: path, lines: lines)
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
           let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            config.warnings.append("\(path) can be read by others (mode \(String(mode, radix: 8))); it names your secrets: chmod 600 it")
        }
        for key in table.keys where key != "remote" && key != "profile" {
            throw ConfigError(path: path, line: reader.line(of: key, in: nil), key: key, "unknown table or key (use [remote.NAME] and [profile.NAME])")
        }
        for (name, value) in try reader.tables(table["remote"], kind: "remote") {
            config.remotes[name] = try reader.remote(name, value)
        }
        for (name, value) in try reader.tables(table["profile"], kind: "profile") {
            config.profiles[name] = try reader.profile(name, value)
        }
        return config
    }

    /// The profile called `name`.
    /// - Throws: ``ConfigError`` listing the profiles there are.
    public func profile(_ name: String) throws -> Profile {
        guard let profile = profiles[name] else {
            let known = profiles.keys.sorted()
            throw ConfigError(path: path, key: "profile.\(name)", "no such profile\(known.isEmpty ? "" : " (there are: \(known.joined(separator: ", ")))")")
        }
        return profile
    }

    /// A remote written `NAME:` or `NAME:sub/path` (rclone's habit) as the URL of the named remote with
    /// the sub-path appended, and the remote; nil for anything else (a URL, a path).
    /// - Throws: ``ConfigError`` for `NAME:` of a remote that is not in the file.
    public func namedRemote(_ text: String) throws -> (url: String, remote: RemoteConfig)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        // URLs (webdav+https://, s3://) and Windows drives are not names.
        guard !name.isEmpty, !rest.hasPrefix("//"), name.count > 1,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        guard let remote = remotes[name] else {
            throw ConfigError(path: path, key: "remote.\(name)", "no remote called '\(name)' (write it as [remote.\(name)] with a url)")
        }
        let base = remote.url.hasSuffix("/") ? remote.url : remote.url + "/"
        let sub = rest.hasPrefix("/") ? String(rest.dropFirst()) : rest
        return (base + sub, remote)
    }
}

/// Reads typed values out of the parsed tables, with line numbers for errors.
private struct Reader {
    let path: String
    let lines: [String]

    /// The 1-based line of `key` inside the table headed `[header]` (or at the top when nil).
    func line(of key: String, in header: String?) -> Int? {
        var inside = header == nil
        for (index, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                let name = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                if header == nil { if line.hasPrefix("[\(key)") { return index + 1 } else { continue } }
                inside = name == header
                if inside && key.isEmpty { return index + 1 }
                continue
            }
            guard inside, !key.isEmpty else { continue }
            let left = line.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
            if left == key { return index + 1 }
        }
        return nil
    }

    func tables(_ value: (any TOMLValueConvertible)?, kind: String) throws -> [(String, TOMLTable)] {
        guard let value else { return [] }
        guard let table = value.table else {
            throw ConfigError(path: path, line: line(of: kind, in: nil), key: kind, "must be a table of [\(kind).NAME] tables")
        }
        return try table.keys.sorted().map { name in
            guard let inner = table[name]?.table else {
                throw ConfigError(path: path, line: line(of: "\(kind).\(name)", in: nil), key: "\(kind).\(name)", "must be a table ([\(kind).\(name)])")
            }
            return (name, inner)
        }
    }

    func check(_ table: TOMLTable, known: Set<String>, header: String) throws {
        for key in table.keys.sorted() where !known.contains(key) {
            throw ConfigError(path: path, line: line(of: key, in: header), key: "\(header).\(key)",
                              "unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// The value of `key`, when there is one, of the type `get` reads (`what` names it for the error).
    func typed<T>(_ table: TOMLTable, _ key: String, header: String, _ what: String,
                  _ get: (any TOMLValueConvertible) -> T?) throws -> T? {
        guard let value = table[key] else { return nil }
        guard let typed = get(value) else {
            throw ConfigError(path: path, line: line(of: key, in: header), key: "\(header).\(key)", "must be \(what), not \(value.type)")
        }
        return typed
    }

    func string(_ table: TOMLTable, _ key: String, header: String) throws -> String? {
        try typed(table, key, header: header, "a string") { $0.string }
    }

    func int(_ table: TOMLTable, _ key: String, header: String) throws -> Int? {
        try typed(table, key, header: header, "an integer") { $0.int }
    }

    func bool(_ table: TOMLTable, _ key: String, header: String) throws -> Bool? {
        try typed(table, key, header: header, "true or false") { $0.bool }
    }

    /// `X_env` or `X_command`, never both, never the secret itself.
    func secret(_ table: TOMLTable, _ base: String, header: String) throws -> SecretReference? {
        let environment = try string(table, base + "_env", header: header)
        let command = try string(table, base + "_command", header: header)
        switch (environment, command) {
        case (nil, nil): return nil
        case (let name?, nil): return .environment(name)
        case (nil, let command?): return .command(command)
        default:
            throw ConfigError(path: path, line: line(of: base + "_command", in: header), key: "\(header).\(base)_command",
                              "give \(base)_env or \(base)_command, not both")
        }
    }

    /// `encrypt_to`, `passphrase_env`/`passphrase_command`, checked: recipients look like age's, a
    /// passphrase goes alone (as age allows), and encrypting to recipients names the `identity_file`
    /// that the verify steps open the archive with.
    func encryption(of profile: inout Profile, _ table: TOMLTable, header: String) throws {
        let recipients = try typed(table, "encrypt_to", header: header, "an array of strings (\"age1...\")") { value -> [String]? in
            guard let array = value.array else { return nil }
            let strings = array.compactMap { $0.string }
            return strings.count == array.count ? strings : nil
        } ?? []
        for recipient in recipients where !recipient.hasPrefix("age1") {
            throw ConfigError(path: path, line: line(of: "encrypt_to", in: header), key: "\(header).encrypt_to",
                              "'\(recipient)' is not an age recipient (age1..., as age-keygen prints)")
        }
        profile.encryptTo = recipients
        profile.passphrase = try secret(table, "passphrase", header: header)
        if profile.passphrase != nil && (!recipients.isEmpty || profile.encryptToFile != nil) {
            throw ConfigError(path: path, line: line(of: "encrypt_to", in: header) ?? line(of: "encrypt_to_file", in: header),
                              key: "\(header).encrypt_to", "a passphrase cannot be combined with encrypt_to or encrypt_to_file (age allows a passphrase only alone)")
        }
        if (!recipients.isEmpty || profile.encryptToFile != nil) && profile.identityFile == nil {
            throw ConfigError(path: path, line: line(of: "encrypt_to", in: header) ?? line(of: "encrypt_to_file", in: header),
                              key: "\(header).identity_file", "encrypting to recipients needs identity_file (the key of one of them): the verify steps read the archive back")
        }
    }

    func remote(_ name: String, _ table: TOMLTable) throws -> RemoteConfig {
        let header = "remote.\(name)"
        try check(table, known: ["url", "endpoint", "region", "profile", "addressing", "user", "password_env", "password_command",
                                 "access_key_id_env", "access_key_id_command", "secret_access_key_env", "secret_access_key_command"],
                  header: header)
        guard let url = try string(table, "url", header: header) else {
            throw ConfigError(path: path, line: line(of: "", in: header), key: header, "needs a url (webdav+https://host/path/ or s3://bucket/prefix/)")
        }
        guard url.hasPrefix("webdav+http://") || url.hasPrefix("webdav+https://") || url.hasPrefix("s3://") else {
            throw ConfigError(path: path, line: line(of: "url", in: header), key: "\(header).url",
                              "must start with webdav+https://, webdav+http:// or s3://")
        }
        let addressing = try string(table, "addressing", header: header)
        if let addressing, !["path", "virtual"].contains(addressing) {
            throw ConfigError(path: path, line: line(of: "addressing", in: header), key: "\(header).addressing", "must be path or virtual")
        }
        return RemoteConfig(name: name, url: url, endpoint: try string(table, "endpoint", header: header),
                            region: try string(table, "region", header: header), profile: try string(table, "profile", header: header),
                            addressing: addressing, user: try string(table, "user", header: header),
                            password: try secret(table, "password", header: header),
                            accessKeyID: try secret(table, "access_key_id", header: header),
                            secretAccessKey: try secret(table, "secret_access_key", header: header))
    }

    /// The keys of a profile, by type, and where each goes.
    static var profileStrings: [(String, WritableKeyPath<Profile, String?>)] {
        [("encrypt_to_file", \.encryptToFile), ("identity_file", \.identityFile), ("db", \.db), ("output", \.output), ("to", \.to), ("older_than", \.olderThan), ("ahead", \.ahead),
         ("sessions_older_than", \.sessionsOlderThan), ("keep_within", \.keepWithin), ("on_failure", \.onFailure), ("ping_url", \.pingURL)]
    }
    static var profileInts: [(String, WritableKeyPath<Profile, Int?>)] {
        [("level", \.level), ("keep_last", \.keepLast), ("keep_hourly", \.keepHourly), ("keep_daily", \.keepDaily),
         ("keep_weekly", \.keepWeekly), ("keep_monthly", \.keepMonthly), ("keep_yearly", \.keepYearly)]
    }
    static var profileBools: [(String, WritableKeyPath<Profile, Bool>)] { [("cleanup", \.cleanup), ("no_delete", \.noDelete), ("redact_env", \.redactEnv)] }

    func profile(_ name: String, _ table: TOMLTable) throws -> Profile {
        let header = "profile.\(name)"
        let known = Self.profileStrings.map(\.0) + Self.profileInts.map(\.0) + Self.profileBools.map(\.0)
            + ["encrypt_to", "passphrase_env", "passphrase_command"]
        try check(table, known: Set(known), header: header)
        var profile = Profile(name: name)
        for (key, path) in Self.profileStrings { profile[keyPath: path] = try string(table, key, header: header) }
        for (key, path) in Self.profileInts { profile[keyPath: path] = try int(table, key, header: header) }
        for (key, path) in Self.profileBools { profile[keyPath: path] = try bool(table, key, header: header) ?? false }
        try encryption(of: &profile, table, header: header)
        if profile.output == nil && profile.to == nil {
            throw ConfigError(path: path, line: line(of: "", in: header), key: header, "needs an output folder or a remote (output = \"...\" or to = \"...\")")
        }
        return profile
    }
}
