import BackupCore
import BackupModel
import BackupRetention
import BackupStore
import BackupTestSupport
import Foundation
import Testing

/// `prune` over a local folder, Apache WebDAV and moto S3, with archives made by naming objects (the time
/// is in the name; prune never reads an archive).
@Suite struct PruneTests {
    enum Place: String, CaseIterable, Sendable { case local, apache, moto }

    /// A fresh, empty location of `place`: the string `prune` takes, the store behind it (to put objects
    /// and look), the environment with its credentials, and what keeps it alive.
    static func make(_ place: Place) throws -> (location: String, store: any RemoteStore, environment: [String: String],
                                                options: RemoteOptions, keepAlive: AnyObject) {
        switch place {
        case .local:
            let dir = TemporaryDirectory("prune")
            try FileManager.default.createDirectory(atPath: dir.file("backups"), withIntermediateDirectories: false)
            return (dir.file("backups"), LocalStore(root: dir.file("backups")), [:], RemoteOptions(), dir)
        case .apache:
            let server = try ApacheWebDAV.shared(.basic)
            let folder = "/\(S3TestServer.uniqueBucket("prune"))/laptop"
            return ("webdav+" + server.baseURL + folder + "/",
                    WebDAVStore(baseURL: server.baseURL + folder, user: server.user, password: server.password),
                    ["PTC_WEBDAV_USER": server.user, "PTC_WEBDAV_PASSWORD": server.password, "HOME": "/nonexistent"],
                    RemoteOptions(), server)
        case .moto:
            let server = try S3TestServer.shared(.moto)
            let bucket = S3TestServer.uniqueBucket("prune")
            let store = try S3Store(S3Store.Configuration(endpoint: server.endpoint, bucket: bucket,
                                                          credentials: S3Credentials(accessKey: server.accessKey, secretKey: server.secretKey)))
            return ("s3://\(bucket)/", store, ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "HOME": "/nonexistent"],
                    RemoteOptions(endpoint: server.endpoint, addressing: .path), server)
        }
    }

    static func name(_ time: String, host: String = "laptop", kind: String = "full") -> String {
        "plantocode-\(host)-\(time)-\(kind).tar.zst"
    }

    /// `--keep-daily 2 --keep-monthly 2`, worked by hand: the newest of the last two days, the newest of
    /// the last two months; the cleanup archive and the other file are never touched.
    static let kept = [name("20261231T100000Z"), name("20261230T100000Z"), name("20261115T000000Z")]
    static let removed = [name("20261230T080000Z"), name("20261201T000000Z")]
    static let untouched = [name("20261001T000000Z", kind: "cleanup"), "notes.txt"]
    static let policy = RetentionPolicy(daily: 2, monthly: 2)

    @Test(arguments: Place.allCases)
    func dryRunThenPrune(_ place: Place) throws {
        let target = try Self.make(place)
        let dir = TemporaryDirectory("prune-files")
        try withExtendedLifetime((target.keepAlive, dir)) {
            for (index, name) in (Self.kept + Self.removed + Self.untouched).enumerated() {
                try target.store.put(file: try dir.randomFile("f\(index)", bytes: 100 + index), as: name)
            }
            let before = try target.store.list(prefix: "").map(\.name)
            var options = PruneOptions(policy: Self.policy)
            options.remote = target.options
            options.dryRun = true
            let dry = try Pruner().prune(target.location, options: options, environment: target.environment)
            #expect(dry.failure == nil)
            #expect(try target.store.list(prefix: "").map(\.name) == before, "a dry run changes nothing")
            #expect(dry.report.archives.map(\.name) == [Self.kept[0], Self.kept[1], Self.removed[0], Self.removed[1], Self.kept[2]])
            #expect(dry.report.archives.map { $0.reasons.joined(separator: ", ") } == ["daily 1, monthly 1", "daily 2", "", "", "monthly 2"])
            #expect(dry.report.archives.allSatisfy { !$0.deleted })
            #expect(dry.report.archives.first { $0.name == Self.removed[1] }?.bytes == 104)
            #expect(dry.report.ignored.map(\.name) == Self.untouched.reversed())

            options.dryRun = false
            let run = try Pruner().prune(target.location, options: options, environment: target.environment)
            #expect(run.failure == nil)
            #expect(run.report.archives.map(\.name) == dry.report.archives.map(\.name))
            #expect(run.report.archives.map(\.reasons) == dry.report.archives.map(\.reasons))
            #expect(run.report.archives.filter(\.deleted).map(\.name).sorted() == Self.removed.sorted())
            #expect(try target.store.list(prefix: "").map(\.name) == (Self.kept + Self.untouched).sorted())

            // Nothing more to do the second time.
            let again = try Pruner().prune(target.location, options: options, environment: target.environment)
            #expect(again.report.archives.allSatisfy { $0.keep })
        }
    }

    /// The second archive to delete is a folder entry that cannot be unlinked: the first is gone, the
    /// failure says so, the third is intact.
    @Test func aFailureHalfwaySaysWhatWasDeleted() throws {
        let target = try Self.make(.local)
        try withExtendedLifetime(target.keepAlive) {
            let oldest = Self.name("20260101T000000Z"), stuck = Self.name("20260201T000000Z"), newer = Self.name("20260301T000000Z")
            let newest = Self.name("20260401T000000Z")
            for name in [oldest, newer, newest] { #expect(FileManager.default.createFile(atPath: target.location + "/" + name, contents: Data("x".utf8))) }
            try FileManager.default.createDirectory(atPath: target.location + "/" + stuck, withIntermediateDirectories: false)
            let outcome = try Pruner().prune(target.location, options: PruneOptions(policy: RetentionPolicy(last: 1)))
            let failure = try #require(outcome.failure)
            #expect(failure.message.contains("deleting \(stuck)") || failure.message.contains(stuck))
            #expect(failure.message.hasSuffix("; deleted before it: \(oldest); 2 archives to remove left intact"))
            #expect(outcome.report.stoppedBy == failure.message)
            #expect(outcome.report.archives.filter(\.deleted).map(\.name) == [oldest])
            #expect(try FileManager.default.contentsOfDirectory(atPath: target.location).sorted() == [stuck, newer, newest].sorted())
        }
    }

    /// Leftovers older than a day: the store's hidden upload, an export's temporary whose process is gone;
    /// a live process's temporary and a fresh upload stay.
    @Test func staleTemporariesInAFolderAreRemovedAndCounted() throws {
        let target = try Self.make(.local)
        try withExtendedLifetime(target.keepAlive) {
            let gone = try Self.deadPID()
            let files: [(String, Int, Bool)] = [
                (".\(Self.name("20260101T000000Z")).part-1f2e", 1000, true),
                (".\(Self.name("20260101T000000Z")).tmp-\(gone)-ab12", 2000, true),
                (".\(Self.name("20260102T000000Z")).snapshot-\(getpid())-ab12", 4000, false),
                (".\(Self.name("20260103T000000Z")).part-99", 8000, false),
                (Self.name("20260104T000000Z"), 16000, false),
            ]
            let old = Date().addingTimeInterval(-2 * 86_400)
            for (name, bytes, stale) in files {
                let path = target.location + "/" + name
                #expect(FileManager.default.createFile(atPath: path, contents: Data(count: bytes)))
                if stale || name.contains("snapshot") {
                    try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
                }
            }
            var options = PruneOptions(policy: RetentionPolicy(last: 1))
            options.dryRun = true
            let dry = try Pruner().prune(target.location, options: options)
            #expect(dry.report.leftovers.map(\.name).sorted() == files.filter(\.2).map(\.0).sorted())
            #expect(dry.report.leftovers.reduce(0) { $0 + $1.bytes } == 3000)
            #expect(dry.report.leftovers.allSatisfy { !$0.removed })
            #expect(try FileManager.default.contentsOfDirectory(atPath: target.location).count == files.count)

            options.dryRun = false
            let run = try Pruner().prune(target.location, options: options)
            #expect(run.failure == nil)
            #expect(run.report.leftovers.allSatisfy { $0.removed })
            #expect(run.report.leftovers.count == 2)
            #expect(try FileManager.default.contentsOfDirectory(atPath: target.location).sorted() == files.filter { !$0.2 }.map(\.0).sorted())
        }
    }

    /// An id of a process that has ended.
    static func deadPID() throws -> Int32 {
        let process = try Binary.start("/bin/true", [])
        let pid = process.pid
        _ = try process.wait()
        return pid
    }

    /// moto reports every upload as started in 2010, so its incomplete uploads are always more than a day old.
    @Test func incompleteS3UploadsAreAbortedAndCounted() throws {
        let target = try Self.make(.moto)
        let dir = TemporaryDirectory("prune-s3")
        try withExtendedLifetime((target.keepAlive, dir)) {
            try target.store.put(file: try dir.randomFile("a", bytes: 10), as: Self.name("20260101T000000Z"))
            let bucket = String(target.location.dropFirst("s3://".count).dropLast())
            try S3TestServer.shared(.moto).leaveIncompleteUpload(bucket: bucket, key: Self.name("20260102T000000Z"), bytes: 70_000)
            var options = PruneOptions(policy: RetentionPolicy(last: 1))
            options.remote = target.options
            let run = try Pruner().prune(target.location, options: options, environment: target.environment)
            #expect(run.failure == nil)
            #expect(run.report.leftovers.map(\.kind) == ["multipartUpload"])
            #expect(run.report.leftovers.map(\.bytes) == [70_000])
            #expect(run.report.leftovers.allSatisfy { $0.removed })
            #expect(try target.store.leftovers().isEmpty)
            #expect(try target.store.list(prefix: "").map(\.name) == [Self.name("20260101T000000Z")])
        }
    }

    @Test func refusals() throws {
        let target = try Self.make(.local)
        try withExtendedLifetime(target.keepAlive) {
            let empty = try #require(throws: BackupError.self) { try Pruner().prune(target.location, options: PruneOptions(policy: RetentionPolicy())) }
            #expect(empty.code == .usage)
            #expect(empty.message.contains("never deletes everything"))
            let missing = try #require(throws: BackupError.self) {
                try Pruner().prune(target.location + "/nope", options: PruneOptions(policy: RetentionPolicy(last: 1)))
            }
            #expect(missing.code == .noInput)
            let archive = try #require(throws: BackupError.self) {
                try Pruner().prune("s3://bucket/" + Self.name("20260101T000000Z"), options: PruneOptions(policy: RetentionPolicy(last: 1)),
                                   environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
            }
            #expect(archive.code == .usage)
        }
    }
}
