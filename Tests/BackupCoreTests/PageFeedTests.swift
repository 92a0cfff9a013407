@testable import BackupCore
import BackupModel
import BackupTestSupport
import Foundation
import Testing

@Suite struct PageFeedTests {
    @Test func handsOutConsecutivePagesFromPageTwo() {
        let feed = PageFeed(pageSize: 4096)
        feed.record(.write(offset: 0, length: 4096))           // page 1: never handed out
        feed.record(.write(offset: 4096, length: 3 * 4096))    // pages 2-4
        #expect(feed.nextRun() == 2...4)
        feed.record(.write(offset: 6 * 4096, length: 4096))    // page 7 before 5 and 6
        feed.record(.write(offset: 4 * 4096, length: 2 * 4096))
        #expect(feed.nextRun() == 5...7)
        feed.finish()
        #expect(feed.nextRun() == nil)
        #expect(!feed.unstable)
    }

    @Test func aRewriteOfAHandedOutPageMakesTheFeedUnstable() {
        let feed = PageFeed(pageSize: 4096)
        feed.record(.write(offset: 4096, length: 4096))
        #expect(feed.nextRun() == 2...2)
        feed.record(.write(offset: 0, length: 100))             // page 1's header: fine
        #expect(!feed.unstable)
        feed.record(.write(offset: 4096, length: 4096))
        #expect(feed.unstable)
        #expect(feed.nextRun() == nil)
    }

    @Test func partialPageWritesAndTruncationAreUnstable() {
        let partial = PageFeed(pageSize: 4096)
        partial.record(.write(offset: 8192, length: 100))
        #expect(partial.unstable)
        let truncated = PageFeed(pageSize: 4096)
        truncated.record(.write(offset: 4096, length: 4 * 4096))
        _ = truncated.nextRun()
        truncated.record(.truncate(size: 8192))
        #expect(truncated.unstable)
    }

    @Test func theLockBytePageCountsAsWrittenOnceThePageAfterItIs() {
        let pageSize: Int64 = 65536
        let lockPage = PageFeed.lockBytePage(pageSize: pageSize)
        #expect(lockPage == 16385)
        let feed = PageFeed(pageSize: pageSize)
        feed.record(.write(offset: pageSize, length: (lockPage - 2) * pageSize))   // pages 2 ..< lockPage
        // Not yet: reading the lock page now would read past the end of the file.
        #expect(feed.nextRun() == 2...(lockPage - 1))
        feed.record(.write(offset: lockPage * pageSize, length: pageSize))         // the page after it
        #expect(feed.nextRun() == lockPage...(lockPage + 1))
    }

    @Test func abandoningEndsTheFeed() {
        let feed = PageFeed(pageSize: 4096)
        feed.abandon()
        #expect(feed.unstable)
        #expect(feed.nextRun() == nil)
    }
}

@Suite struct PackingPathTests {
    /// Packing while copying and packing afterwards give the same database and the same counts.
    @Test func bothPathsGiveTheSameArchiveContent() throws {
        let dir = TemporaryDirectory("paths")
        let fixture = try Fixtures.database(in: dir, bytes: 3_000_000, walOnlyCommits: 2)
        var options = ExportOptions()
        options.databasePath = fixture.path
        options.host = "h"
        options.pagesPerStep = 32
        var manifests: [Manifest] = []
        var digests: [[String: String]] = []
        for (name, streaming) in [("streamed.tar.zst", true), ("sequential.tar.zst", false)] {
            options.output = dir.file(name)
            options.packWhileCopying = streaming
            let result = try Exporter().export(options)
            let archive = try #require(result.archivePath)
            #expect(try Verifier().verify(archive).problems == [])
            try ArchiveFixture.extractDatabase(archive, to: dir.file(name + ".db"))
            digests.append(try TableDigest.digests(of: dir.file(name + ".db")))
            manifests.append(try #require(result.manifest))
        }
        #expect(digests[0] == digests[1])
        #expect(digests[0] == (try TableDigest.digests(of: fixture.path)))
        #expect(manifests[0].tables == manifests[1].tables)
        #expect(manifests[0].sessions == manifests[1].sessions)
        #expect(manifests[0].entries[0].size == manifests[1].entries[0].size)
    }
}
