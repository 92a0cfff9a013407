import BackupConfig
import BackupDigest
import BackupHTTP
import BackupModel
import BackupRetention
import Foundation
import Logging

/// A remote as the commands use it: its URL, how to reach it, and the environment that carries its
/// credentials (from the config's references, resolved now; never written anywhere).
public struct ResolvedRemote: Sendable {
    public var url: String
    public var options: RemoteOptions
    public var environment: [String: String]
}

extension ConfigFile {
    /// `NAME:` or `NAME:sub/path` as the named remote's URL, options and credentials; any other text (a
    /// URL, a folder) as it is, with `base` and `environment` unchanged.
    /// - Throws: ``BackupError`` `config` (78) for an unknown name or an unresolvable secret.
    public func resolve(_ text: String, base: RemoteOptions, environment: [String: String]) throws -> ResolvedRemote {
        do {
            guard let (url, remote) = try namedRemote(text) else {
                return ResolvedRemote(url: text, options: base, environment: environment)
            }
            var options = base
            var env = environment
            if let endpoint = remote.endpoint { options.endpoint = endpoint }
            if let addressing = remote.addressing { options.addressing = addressing == "path" ? .path : .virtualHost }
            if let region = remote.region { env["AWS_REGION"] = region }
            if let profile = remote.profile { env["AWS_PROFILE"] = profile }
            if let user = remote.user { env["PTC_WEBDAV_USER"] = user }
            let key = "remote.\(remote.name)"
            if remote.user != nil || remote.password != nil || remote.accessKeyID != nil || remote.secretAccessKey != nil {
                options.credentialSource = "[\(key)] of \(path)"
            }
            if let password = remote.password {
                env["PTC_WEBDAV_PASSWORD"] = try password.resolve(environment: environment, configPath: path, key: key + ".password")
            }
            if let accessKey = remote.accessKeyID {
                env["AWS_ACCESS_KEY_ID"] = try accessKey.resolve(environment: environment, configPath: path, key: key + ".access_key_id")
                env["AWS_SESSION_TOKEN"] = nil
            }
            if let secret = remote.secretAccessKey {
                env["AWS_SECRET_ACCESS_KEY"] = try secret.resolve(environment: environment, configPath: path, key: key + ".secret_access_key")
            }
            return ResolvedRemote(url: url, options: options, environment: env)
        } catch let error as ConfigError {
            throw BackupError(error)
        }
    }
}

/// What `run PROFILE` should do, beyond the profile itself.
public struct RunOptions: Sendable {
    public var profile: Profile
    public var config: ConfigFile
    /// How to reach remotes (`--insecure`, retries), before a named remote's own settings.
    public var remote = RemoteOptions()
    /// `--encrypt-to`, `--encrypt-to-file`, `--passphrase`: instead of the profile's encryption.
    public var encryption: ArchiveEncryption?
    /// `--redact-env`, in addition to the profile's `redact_env`.
    public var redactEnvironment = false
    /// `--identity`: in addition to the profile's `identity_file`, for the verify steps.
    public var keys = ArchiveKeys.none
    /// Hears warnings (an upload of an unencrypted archive holding secret-looking variables).
    public var onWarning: @Sendable (String) -> Void = { _ in }
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    public var now = Date()
    public var host = FileSystem.hostName()

    public init(profile: Profile, config: ConfigFile) {
        self.profile = profile
        self.config = config
    }
}

/// `run PROFILE`: the scheduled job in one command, as the profile says: cleanup or export, verify, push
/// and check the remote copy, prune the folder and the remote; then `on_failure` or `ping_url`.
/// Every step's outcome is in the report; the exit code is the worst step's.
public struct Runner: Sendable {
    public var logger: Logger
    public var progress: ProgressHandler?

    public init(logger: Logger = Logger(label: "ptc-backup.run", factory: { _ in SwiftLogNoOpLogHandler() }),
                progress: ProgressHandler? = nil) {
        self.logger = logger
        self.progress = progress
    }

    public func run(_ options: RunOptions) -> RunReport {
        let started = Date()
        let profile = options.profile
        var report = RunReport(profile: profile.name)
        func step(_ name: String, _ body: () throws -> String) -> Bool {
            let begun = Date()
            do {
                let summary = try body()
                report.steps.append(.init(name: name, exitCode: 0, summary: summary, seconds: Date().timeIntervalSince(begun)))
                return true
            } catch {
                let failure = (error as? BackupError) ?? BackupError(.software, "internal error in \(name): \(error)")
                report.steps.append(.init(name: name, exitCode: failure.code.rawValue, summary: failure.message,
                                          seconds: Date().timeIntervalSince(begun)))
                return false
            }
        }

        var remote: ResolvedRemote?
        var archive: String?
        var encryption: ArchiveEncryption?
        var keys = ArchiveKeys.none
        let output = profile.output ?? FileManager.default.temporaryDirectory.path + "/ptc-backup-run-\(getpid())/"
        let prepared = step("prepare") {
            if let to = profile.to {
                remote = try options.config.resolve(to, base: options.remote, environment: options.environment)
            }
            (encryption, keys) = try Self.encryption(options)
            try FileSystem.makeFolder(output, doing: "creating the output folder")
            return profile.output.map { "output \($0)" } ?? "no output folder: the archive goes to the remote only"
        }
        guard prepared else { return notify(report.finished(started), profile: profile, environment: options.environment) }
        let transfers = remote.map { remote in
            var transfers = Transfers(options: remote.options, onRetry: options.remote.onRetry)
            transfers.onWarning = options.onWarning
            transfers.progress = progress
            return transfers
        }

        if profile.cleanup {
            _ = step("cleanup") {
                var cleanup = CleanupOptions()
                cleanup.databasePath = profile.db
                cleanup.olderThan = try profile.olderThan.map(Age.init(parsing:))
                if let ahead = profile.ahead { cleanup.ahead = try Age(parsing: ahead) }
                cleanup.sessionsOlderThan = try profile.sessionsOlderThan.map(Age.init(parsing:))
                cleanup.output = output
                cleanup.remote = remote?.url
                cleanup.noDelete = profile.noDelete
                if let level = profile.level { cleanup.compressionLevel = level }
                cleanup.encryption = encryption
                cleanup.redactEnvironment = options.redactEnvironment || profile.redactEnv
                cleanup.keys = keys
                cleanup.environment = remote?.environment ?? options.environment
                cleanup.now = options.now
                cleanup.host = options.host
                let result = try Cleaner(logger: logger, progress: progress).run(cleanup, transfers: transfers)
                archive = result.archive
                report.archives += result.archive.map { [$0] } ?? []
                return result.archive.map { "archived \(result.archived.map { "\($0.name) \($0.rows)" }.joined(separator: ", ")) to \($0); deleted \(result.deleted["background_jobs"] ?? 0) jobs" }
                    ?? (result.message ?? "nothing to clean up")
            }
        } else {
            let exported = step("export") {
                var export = ExportOptions()
                export.databasePath = profile.db
                export.output = output
                if let level = profile.level { export.compressionLevel = level }
                export.encryption = encryption
                export.redactEnvironment = options.redactEnvironment || profile.redactEnv
                export.environment = options.environment
                export.now = options.now
                export.host = options.host
                let result = try Exporter(logger: logger, progress: progress).export(export)
                archive = result.archivePath
                report.archives += result.archivePath.map { [$0] } ?? []
                return "wrote \(result.archivePath ?? "nothing"), \(ByteCount.text(result.bytes ?? 0))"
            }
            if exported, let archive {
                let verified = step("verify") {
                    var verifier = Verifier(logger: logger, progress: progress)
                    verifier.keys = keys.adding(encryption)
                    let outcome = try verifier.verify(archive)
                    guard outcome.ok else { throw BackupError(.dataError, "\(archive) fails verification: \(outcome.problems.first ?? "")") }
                    return "\(archive) verified"
                }
                if verified, let remote, let transfers {
                    _ = step("push") {
                        let lock = try RemoteLock.acquire(remote.url, options: remote.options, command: "run", environment: remote.environment)
                        defer { lock.release() }
                        let uploaded = try transfers.push(archive, to: remote.url, environment: remote.environment)
                        let url = remote.url.hasSuffix("/") ? remote.url + uploaded.name : remote.url + "/" + uploaded.name
                        let local = try Cleaner.sha256(of: archive)
                        let copy = try transfers.withDownload(url, temporaryDirectory: output, environment: remote.environment) { try Cleaner.sha256(of: $0) }
                        guard copy == local else {
                            throw BackupError(.unavailable, "the copy on \(url) does not match the archive (SHA-256 \(copy), expected \(local))")
                        }
                        report.uploaded.append(url)
                        if profile.output == nil { FileSystem.remove(archive) }
                        return "uploaded and checked \(url)"
                    }
                }
            }
        }

        if profile.prunes && report.steps.allSatisfy({ $0.exitCode == 0 }) {
            let policy = RetentionPolicy(last: profile.keepLast ?? 0, hourly: profile.keepHourly ?? 0, daily: profile.keepDaily ?? 0,
                                         weekly: profile.keepWeekly ?? 0, monthly: profile.keepMonthly ?? 0, yearly: profile.keepYearly ?? 0,
                                         within: try? profile.keepWithin.map { let age = try Age(parsing: $0); return .init(seconds: age.seconds, text: age.text) })
            var prune = PruneOptions(policy: policy)
            prune.now = options.now
            if let folder = profile.output {
                _ = step("prune \(folder)") { try Self.summary(try Pruner().prune(folder, options: prune, environment: options.environment)) }
            }
            if let remote {
                prune.remote = remote.options
                _ = step("prune \(remote.url)") { try Self.summary(try Pruner().prune(remote.url, options: prune, environment: remote.environment)) }
            }
        }
        if profile.output == nil { try? FileManager.default.removeItem(atPath: output) }
        return notify(report.finished(started), profile: profile, environment: options.environment)
    }

    /// The encryption (the command line's, else the profile's) and the keys the verify steps read the
    /// archive back with (the command line's and `identity_file`); exit 64 when encrypting to recipients
    /// with no identity to verify with.
    static func encryption(_ options: RunOptions) throws -> (ArchiveEncryption?, ArchiveKeys) {
        let profile = options.profile
        var encryption = options.encryption
        if encryption == nil && profile.encrypts {
            let passphrase: String?
            do {
                passphrase = try profile.passphrase?.resolve(environment: options.environment, configPath: options.config.path,
                                                              key: "profile.\(profile.name).passphrase")
            } catch let error as ConfigError {
                throw BackupError(error)
            }
            encryption = try ArchiveEncryption(recipients: profile.encryptTo, recipientFiles: profile.encryptToFile.map { [$0] } ?? [],
                                               passphrase: passphrase)
        }
        let fromProfile = try ArchiveKeys(identityFiles: profile.identityFile.map { [$0] } ?? [], passphrase: nil)
        let keys = ArchiveKeys(identities: options.keys.identities + fromProfile.identities)
        if let encryption, !encryption.usesPassphrase, keys.isEmpty {
            throw BackupError.usage("run verifies the archive it writes: encrypting to recipients needs --identity FILE (or identity_file in the profile) of one of them")
        }
        return (encryption, keys)
    }

    private static func summary(_ outcome: PruneOutcome) throws -> String {
        if let failure = outcome.failure { throw failure }
        let removed = outcome.report.archives.filter { $0.deleted }.count
        let kept = outcome.report.archives.filter(\.keep).count
        return "kept \(kept), removed \(removed)"
    }

    /// `on_failure` (a command with `PTC_BACKUP_ERROR` and `PTC_BACKUP_STATUS`) after a failed run,
    /// `ping_url` (GET on success, `<url>/fail` with the error line as body on failure) after any run.
    func notify(_ report: RunReport, profile: Profile, environment: [String: String]) -> RunReport {
        var report = report
        let failed = report.steps.first { $0.exitCode != 0 }
        if let failed, let command = profile.onFailure {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            var env = environment
            env["PTC_BACKUP_ERROR"] = failed.summary
            env["PTC_BACKUP_STATUS"] = String(report.exitCode)
            process.environment = env
            process.standardInput = FileHandle.nullDevice
            do {
                try process.run()
                process.waitUntilExit()
                report.notified.append("on_failure exited \(process.terminationStatus)")
            } catch {
                report.notified.append("on_failure could not run: \(error)")
            }
        }
        if let ping = profile.pingURL {
            let url = failed == nil ? ping : (ping.hasSuffix("/") ? ping + "fail" : ping + "/fail")
            var request = HTTPRequest(method: failed == nil ? "GET" : "POST", url: url)
            if let failed { request.body = .bytes(Array(failed.summary.utf8)) }
            request.stallTimeout = 10
            do {
                let response = try HTTPClient().perform(request)
                report.notified.append("ping \(url): \(response.status)")
            } catch {
                report.notified.append("ping \(url) failed: \(error)")
            }
        }
        return report
    }
}
