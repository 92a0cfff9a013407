import BackupCore
import BackupTestSupport
import Foundation
import Testing

/// ``RemoteLock`` in this process against rclone's WebDAV server (whose files the test reads on disk).
@Suite struct RemoteLockTests {
    static func records(in folder: String) throws -> [(name: String, record: RemoteLock.Record)] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter(RemoteLock.isLockName).sorted().map {
            ($0, try JSONDecoder().decode(RemoteLock.Record.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0))))
        }
    }

    @Test func aHeldLockIsRefreshedSharedWithinTheProcessAndGoesOnRelease() throws {
        let server = try RcloneWebDAV.shared()
        let sub = "rlock-refresh-\(UUID().uuidString.prefix(8))"
        let folder = server.root.file(sub)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        var env = ProcessInfo.processInfo.environment
        env["PTC_WEBDAV_USER"] = server.user
        env["PTC_WEBDAV_PASSWORD"] = server.password
        let remote = "webdav+\(server.baseURL)/\(sub)/"

        let lock = try RemoteLock.acquire(remote, options: RemoteOptions(), command: "push", refreshInterval: 0.3, environment: env)
        let first = try Self.records(in: folder)
        #expect(first.count == 1)
        #expect(first.first?.record.pid == getpid() && first.first?.record.command == "push")
        // Reentrant within the process: a nested operation shares the lock, and its release keeps it.
        let nested = try RemoteLock.acquire(remote + "plantocode-h-20260101T000000Z-full.tar.zst", options: RemoteOptions(), command: "prune", environment: env)
        nested.release()
        #expect(try Self.records(in: folder).map(\.name) == first.map(\.name))
        Thread.sleep(forTimeInterval: 1.2)
        let later = try Self.records(in: folder)
        #expect(later.map(\.name) == first.map(\.name))
        #expect((later.first?.record.refreshed ?? 0) > (first.first?.record.refreshed ?? .infinity), "written again while held")

        lock.release()
        #expect(try Self.records(in: folder).isEmpty)
    }
}
