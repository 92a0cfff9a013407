import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove an archive complete: checksums, decompression, integrity and row counts.",
            usage: "ptc-backup verify [<options>] <archive|remote-url>",
            discussion: """
                Checks every entry's size and SHA-256 against the manifest, decompresses everything, \
                runs integrity_check and foreign_key_check on the database, and compares its row counts \
                with the manifest. Exits 65 naming each problem when anything is wrong.

                Examples:
                  ptc-backup verify today.tar.zst
                  ptc-backup verify backups/latest --kind full
                  ptc-backup verify webdav+http://localhost:8080/ptc/latest
                """)

        @OptionGroup var global: GlobalOptions

        @OptionGroup(title: "Remotes") var remoteOptions: RemoteOptionGroup
        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        @Argument(help: ArgumentHelp("The archive, or its URL (webdav+https://host/path/NAME.tar.zst, s3://bucket/prefix/NAME.tar.zst); DIR/latest or URL/latest: the newest archive there.", valueName: "archive|remote-url"))
        var archive: String

        @OptionGroup(title: "latest") var latest: LatestOptions

        @Option(name: [.customLong("tmp-dir"), .customLong("temp-dir")],
                help: ArgumentHelp("Where to extract the database while checking it (default: $TMPDIR).", valueName: "dir"))
        var tempDir: String?

        func run() throws {
            try Console.run("verify", global) { logger in
                let source = try remoteOptions.named(archive)
                let keys = try decryption.keys()
                let archive = try latest.resolve(source.url, source.transfers(global), keys: keys, environment: source.environment)
                let bar = ProgressBar(options: global)
                var verifier = Verifier(logger: logger, progress: bar.handler)
                verifier.keys = keys
                if let tempDir { verifier.temporaryDirectory = tempDir }
                let outcome = RemoteLocation.isRemote(archive)
                    ? try source.transfers(global).withDownload(archive, temporaryDirectory: verifier.temporaryDirectory,
                                                                environment: source.environment) { try verifier.verify($0) }
                    : try verifier.verify(archive)
                bar.finish()
                let report = VerifyReport(archive: archive, problems: outcome.problems,
                                          entries: outcome.manifest.entries, tables: outcome.tables)
                var failure: BackupError?
                if !outcome.ok {
                    let more = outcome.problems.count > 1 ? " (and \(outcome.problems.count - 1) more)" : ""
                    failure = BackupError(.dataError, "\(archive) fails verification: \(outcome.problems[0])\(more)")
                }
                Console.emit(report, global, failure: failure) {
                    if outcome.ok {
                        let rows = outcome.tables.reduce(0) { $0 + $1.rows }
                        Console.out("OK \(archive): \(outcome.manifest.entries.count + 1) entries match their SHA-256, integrity_check ok, \(outcome.tables.count) tables and \(rows) rows match the manifest")
                    } else {
                        Console.out("FAILED \(archive):")
                        for problem in outcome.problems { Console.out("  - \(problem)") }
                    }
                }
            }
        }
    }
}
