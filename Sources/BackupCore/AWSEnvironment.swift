import BackupStore
import Foundation

/// Where AWS tools look for keys and region: the `AWS_*` variables, then the shared files.
enum AWSEnvironment {
    static func credentials(_ environment: [String: String]) -> S3Credentials? {
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            return S3Credentials(accessKey: key, secretKey: secret, sessionToken: token,
                                 source: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" + (token == nil ? "" : " and AWS_SESSION_TOKEN") + " from the environment")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? (home as NSString).appendingPathComponent(".aws/credentials")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let name = environment["AWS_PROFILE"] ?? "default"
        let profile = ini(text)[name] ?? [:]
        guard let key = profile["aws_access_key_id"], let secret = profile["aws_secret_access_key"] else { return nil }
        // AWS_SESSION_TOKEN goes only with the environment's keys (as aws-cli): a profile's token is its own.
        return S3Credentials(accessKey: key, secretKey: secret, sessionToken: profile["aws_session_token"],
                             source: "profile \(name) of \(file)")
    }

    static func region(_ environment: [String: String]) -> String {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let region = environment[name], !region.isEmpty { return region }
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_CONFIG_FILE"] ?? (home as NSString).appendingPathComponent(".aws/config")
        let profile = environment["AWS_PROFILE"] ?? "default"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let sections = ini(text)
            if let region = (sections[profile == "default" ? "default" : "profile \(profile)"] ?? sections[profile])?["region"] {
                return region
            }
        }
        return "us-east-1"
    }

    /// `[section]` then `key = value` lines; `#` and `;` start comments.
    static func ini(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            } else if let equals = line.firstIndex(of: "=") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                sections[current, default: [:]][key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return sections
    }
}
