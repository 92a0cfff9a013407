import ArgumentParser
import BackupCore
import BackupModel
import Foundation

/// The result of `push`, `pull` and `delete`.
struct TransferReport: Codable, Sendable {
    /// The archive: the local file pushed or pulled; for delete, the object's name.
    var archive: String
    /// The remote folder (push) or the object's URL (pull, delete).
    var remote: String
    var bytes: Int64
    /// push: an archive of that name with the same SHA-256 was there already; nothing was sent.
    var alreadyThere: Bool?
    /// pull: "checked" (the SHA-256 stored with the object matched) or "not checked: no checksum stored".
    var checksum: String?
}

/// `latest` in place of an archive's name, and what narrows it (pull, verify, import).
struct LatestOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With latest: only archives of this kind.", valueName: "full|partial|cleanup|diff"))
    var kind: String?

    @Option(help: ArgumentHelp("With latest: only archives of this host (the host in the names).", valueName: "host"))
    var host: String?

    func validate() throws {
        if let kind, !ArchiveName.kinds.contains(kind) {
            throw ValidationError("--kind must be one of \(ArchiveName.kinds.sorted().joined(separator: ", ")) (got \(kind))")
        }
    }

    /// `archive`, or the newest archive its folder holds when it ends in `latest` (encrypted ones too when
    /// the reader holds `keys`).
    func resolve(_ archive: String, _ transfers: Transfers, keys: ArchiveKeys = .none,
                 environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try LatestArchive(kind: kind, host: host, encrypted: !keys.isEmpty).resolve(archive, transfers: transfers, environment: environment)
    }
}

extension PTCBackup {
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload an archive to a WebDAV folder or an S3 bucket.",
            usage: "ptc-backup push [<options>] <file> <remote>",
            discussion: """
                The file must be a ptc-backup archive. Nobody ever sees half of it: WebDAV uploads go to a \
                temporary name and are moved into place (missing folders are created); S3 uploads are atomic, \
                in parts above 64 MiB (a failed one is aborted), and carry the archive's SHA-256, which is \
                checked against what the server then holds.

                Nothing is replaced silently: when the remote already has an archive of that name with the same \
                SHA-256, push does nothing ("already there"); a different one is an error (exit 73) unless \
                --overwrite. A missing S3 bucket is an error (exit 69) unless --create-bucket. Interrupted (Ctrl-C, SIGTERM), the transfer stops \
                within a second, an S3 multipart upload is aborted and a WebDAV temporary object removed; the \
                exit status is then 130 or 143.

                Credentials: for WebDAV, PTC_WEBDAV_USER and PTC_WEBDAV_PASSWORD, or ~/.netrc; for S3, \
                AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) or ~/.aws/credentials, with \
                AWS_REGION and --endpoint (or AWS_ENDPOINT_URL_S3) for services other than AWS.

                Examples:
                  ptc-backup push today.tar.zst webdav+http://localhost:8080/ptc/
                  ptc-backup push today.tar.zst webdav+http://localhost:8080/ptc/old/
                  ptc-backup push today.tar.zst nas:laptop
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Locking") var locking: LockOptionGroup

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Argument(help: ArgumentHelp("The archive; DIR/latest: the newest archive in DIR.", valueName: "file"))
        var file: String

        @Argument(help: ArgumentHelp("The remote folder: webdav+https://host/path/, s3://bucket/prefix/, NAME: or a local folder.", valueName: "remote"))
        var remote: String

        @OptionGroup(title: "latest") var latest: LatestOptions

        @Flag(help: "Replace an archive of the same name but different content on the remote (otherwise exit 73).")
        var overwrite = false

        func run() throws {
            try Console.run("push", global) { _ in
                let target = try remoteOptions.named(remote)
                var transfers = target.transfers(global, bucketMustExist: true)
                let bar = ProgressBar(options: global)
                transfers.progress = bar.handler
                // Push reads no content: `latest` is the newest archive, encrypted or not.
                let file = try LatestArchive(kind: latest.kind, host: latest.host, encrypted: true).resolve(file, transfers: transfers)
                try ArchiveContents.check(file)  // an archive, before the remote is locked
                // The lock object goes where the archive will: it creates no bucket the push would not.
                let lock = try RemoteLock.acquire(target.url, options: transfers.options, command: "push", wait: locking.duration,
                                                  environment: target.environment)
                defer { lock.release() }
                let uploaded = try transfers.upload(file, to: target.url, overwrite: overwrite, environment: target.environment)
                bar.finish()
                let info = uploaded.object
                Console.emit(TransferReport(archive: file, remote: remote, bytes: info.size, alreadyThere: uploaded.alreadyThere), global) {
                    Console.out(uploaded.alreadyThere
                        ? "Already there: \(info.name) on \(remote) has the same SHA-256 (\(Console.bytes(info.size))); nothing sent"
                        : "Uploaded \(file) to \(remote) as \(info.name) (\(Console.bytes(info.size)))")
                }
            }
        }
    }

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download an archive from a WebDAV folder or an S3 bucket.",
            usage: "ptc-backup pull [<options>] <remote-url>",
            discussion: """
                Downloads under a temporary name and keeps the file only once it is complete and reads as an \
                archive. From S3, a dropped connection is resumed where it stopped and the file must match the \
                SHA-256 it was uploaded with (a mismatch is downloaded once more, then exit 65). An object \
                without a stored SHA-256 (any WebDAV file, an S3 object uploaded by another tool) is said to be \
                "not checked: no checksum stored". The file is private (mode 0600). Run `verify` on it before \
                trusting its content.

                Examples:
                  ptc-backup pull webdav+http://localhost:8080/ptc/latest -o pulled.tar.zst
                  ptc-backup pull nas:today.tar.zst -o copy.tar.zst
                  ptc-backup pull nas:latest --kind full -o full.tar.zst
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Argument(help: ArgumentHelp("The archive's URL, ending in .tar.zst, or in latest (the newest archive there).", valueName: "remote-url"))
        var remote: String

        @Option(name: .shortAndLong, help: ArgumentHelp("A folder (existing, or ending in /) or a file name; default: here.", valueName: "file|dir"))
        var output: String?

        @OptionGroup(title: "latest") var latest: LatestOptions

        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        func run() throws {
            try Console.run("pull", global) { _ in
                let source = try remoteOptions.named(remote)
                var transfers = source.transfers(global)
                transfers.keys = try decryption.keys()
                let bar = ProgressBar(options: global)
                transfers.progress = bar.handler
                let downloaded = try transfers.download(try latest.resolve(source.url, transfers, keys: transfers.keys, environment: source.environment),
                                                        output: output, environment: source.environment)
                bar.finish()
                let path = downloaded.path
                let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? nil
                let checksum = downloaded.checksumChecked ? "checked" : "not checked: no checksum stored"
                Console.emit(TransferReport(archive: path, remote: remote, bytes: bytes ?? 0, checksum: checksum), global) {
                    Console.out("Downloaded \(path) (\(Console.bytes(bytes ?? 0))); SHA-256 \(checksum)")
                }
            }
        }
    }
}

extension PTCBackup {
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an archive from a WebDAV folder or an S3 bucket.",
            usage: "ptc-backup delete [<options>] <remote-url>",
            discussion: """
                Only archive names (ending in .tar.zst) are accepted, one at a time; an archive that is not \
                there is an error (exit 66), so a mistyped name never looks like success. Local archives are \
                removed with rm.

                Examples:
                  ptc-backup delete webdav+http://localhost:8080/ptc/old/today.tar.zst
                  ptc-backup delete webdav+http://localhost:8080/ptc/today.tar.zst
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup

        @Argument(help: ArgumentHelp("The archive's URL, ending in .tar.zst.", valueName: "remote-url"))
        var remote: String

        func validate() throws {
            guard RemoteLocation.isRemote(remote) || remote.contains(":") else {
                throw ValidationError("\(remote) is not a remote URL (webdav+https://..., s3://... or NAME:path); remove local archives with rm")
            }
        }

        func run() throws {
            try Console.run("delete", global) { _ in
                let target = try remoteOptions.named(remote)
                let info = try target.transfers(global).delete(target.url, environment: target.environment)
                Console.emit(TransferReport(archive: info.name, remote: remote, bytes: info.size), global) {
                    Console.out("Deleted \(remote) (\(Console.bytes(info.size)))")
                }
            }
        }
    }
}
