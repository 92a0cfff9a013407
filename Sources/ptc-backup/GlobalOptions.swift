import ArgumentParser
import BackupConfig
import BackupCore
import Foundation

/// Flags every command takes.
struct GlobalOptions: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors; no progress bar.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "More detail on stderr (-v info, -vv debug).")
    var verbose: Int

    @Option(help: ArgumentHelp("Progress on stderr: a bar on a terminal (auto), one JSON line per update (json), or none.",
                               valueName: "auto|json|none"))
    var progress: ProgressMode = .auto

    func validate() throws {
        if quiet && verbose > 0 { throw ValidationError("--quiet and --verbose cannot be used together") }
    }
}

extension ProgressMode: ExpressibleByArgument {}

/// How to reach a remote: the flags of every command that takes one.
struct RemoteOptionGroup: ParsableArguments {
    @Option(help: ArgumentHelp("S3 endpoint, http(s)://host[:port] (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS).", valueName: "url"))
    var endpoint: String?

    @Option(help: ArgumentHelp("S3 requests as path (host/bucket/key) or virtual (bucket.host/key); default: virtual on AWS, path elsewhere.", valueName: "path|virtual"))
    var s3Addressing: S3Addressing?

    @Flag(help: "Do not check the remote's TLS certificate (self-signed test servers only).")
    var insecure = false

    @Flag(help: "Create the S3 bucket when it does not exist (push and list otherwise fail with 69, naming it).")
    var createBucket = false

    @Option(help: ArgumentHelp("Parts of an S3 upload sent at once, 1 to 8 (default 4; each takes about 2 MiB of memory).", valueName: "n"))
    var transfers = 4

    enum S3Addressing: String, ExpressibleByArgument, CaseIterable {
        case path, virtual
    }

    func validate() throws {
        guard (1...8).contains(transfers) else { throw ValidationError("--transfers must be 1 to 8 (got \(transfers))") }
        if let endpoint {
            guard let url = URLComponents(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                  url.path.isEmpty || url.path == "/", url.user == nil else {
                throw ValidationError("--endpoint must be http(s)://host[:port], without a path or credentials (got \(endpoint))")
            }
        }
    }

    var options: RemoteOptions {
        var options = RemoteOptions(endpoint: endpoint, addressing: s3Addressing.map { $0 == .path ? .path : .virtualHost }, insecure: insecure)
        options.transfers = transfers
        return options
    }

    /// A remote as the user wrote it: `NAME:` or `NAME:sub/path` (a `[remote.NAME]` of the config file, with
    /// its settings and credentials), or a URL as it is. The flags given here win over the file's settings.
    func named(_ text: String, config: String? = nil) throws -> NamedRemote {
        let environment = ProcessInfo.processInfo.environment
        guard !RemoteLocation.isRemote(text), !text.hasPrefix("/"), !text.hasPrefix("."), text.contains(":") else {
            return NamedRemote(url: text, group: self, environment: environment)
        }
        let path = ConfigFile.location(explicit: config, environment: environment)
        let file: ConfigFile
        do {
            file = FileManager.default.fileExists(atPath: path) ? try ConfigFile.load(path) : ConfigFile(path: path)
        } catch let error as ConfigError {
            throw BackupError(error)
        }
        let resolved = try file.resolve(text, base: options, environment: environment)
        var group = self
        if endpoint == nil { group.endpoint = resolved.options.endpoint }
        if s3Addressing == nil, let addressing = resolved.options.addressing { group.s3Addressing = addressing == .path ? .path : .virtual }
        return NamedRemote(url: resolved.url, group: group, environment: resolved.environment)
    }

    /// Transfers with these options, retries reported as `global` allows. `bucketMustExist`: a missing S3
    /// bucket is an error (69) unless `--create-bucket` (push, list); otherwise an upload creates it.
    func transfers(_ global: GlobalOptions, bucketMustExist: Bool = false) -> Transfers {
        var options = options
        options.createsBucket = !bucketMustExist || createBucket
        var transfers = Transfers(options: options, onRetry: Console.retryReporter(global))
        transfers.onWarning = Console.warningReporter(global)
        return transfers
    }
}

/// A remote resolved by ``RemoteOptionGroup/named(_:config:)``: its URL, its options, its credentials.
struct NamedRemote {
    let url: String
    let group: RemoteOptionGroup
    let environment: [String: String]

    func transfers(_ global: GlobalOptions, bucketMustExist: Bool = false) -> Transfers {
        group.transfers(global, bucketMustExist: bucketMustExist)
    }
}

/// `--lock-wait`: the flag of every command that writes (export, import, cleanup, prune, migrate, push).
struct LockOptionGroup: ParsableArguments {
    @Option(help: ArgumentHelp("When another run holds the database, folder or remote folder, wait this long for it (like 30s, 5m), then exit 75 naming it (default 0: at once).", valueName: "age"))
    var lockWait: String?

    func validate() throws {
        if let lockWait {
            do { _ = try Age(parsing: lockWait) } catch let error as BackupError { throw ValidationError(error.message) }
        }
    }

    /// The wait, for the operations' `lockWait`.
    var duration: Duration { .seconds(lockWait.flatMap { try? Age(parsing: $0) }?.seconds ?? 0) }
}
