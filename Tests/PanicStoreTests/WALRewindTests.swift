import Foundation
import PanicCore
import PanicStore
import Testing

/// The commit after a checkpoint used to rewind the WAL itself: a new WAL header written and synced, the file cut
/// back, on top of its own flush — the slowest commit of every hundred, and the cause of `make bench-outbox` missing
/// its p99 bound in 1 run of 9. The checkpointer now rewinds it in the pause.
@Suite("Outbox WAL rewound in the writer's pause", .timeLimit(.minutes(2)))
struct WALRewindTests {
    /// The WAL header's salts (bytes 16..<24): a rewound WAL gets new ones.
    static func salts(_ path: String) throws -> Data {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        let header = try #require(try handle.read(upToCount: 32))
        try #require(header.count == 32, "no WAL header in \(path)")
        return header.subdata(in: 16..<24)
    }

    @Test("after the pause's checkpoint the next record's commit finds the WAL rewound already")
    func rewoundInThePause() async throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        let wal = scratch.path + "-wal"
        let clock = ManualClock()
        let heard = CheckpointTests.Heard()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await outbox.runCheckpointer(clock: clock, onCheckpoint: heard.handler) }
            defer { group.cancelAll() }
            var appended = 0
            while clock.sleeperCount == 0 {
                _ = try outbox.append(draft(.position))
                appended += 1
                try #require(appended < 500, "the checkpointer never waited for a pause")
                await Task.yield()
            }
            let before = try Self.salts(wal)
            clock.advance(by: Outbox.checkpointQuiet)
            var events = heard.events.makeAsyncIterator()
            #expect(await events.next() == .idle)
            let rewound = try Self.salts(wal)
            #expect(rewound != before, "the WAL was not rewound in the pause")
            // The next records go into the rewound WAL without writing a new header.
            for _ in 0..<3 {
                _ = try outbox.append(draft(.position))
                #expect(try Self.salts(wal) == rewound, "a record's commit rewound the WAL")
            }
        }
        #expect(scratch.verify(try outbox.records().map(\.envelope)).isEmpty)
    }
}
