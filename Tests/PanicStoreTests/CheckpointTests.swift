import Foundation
import PanicCore
import PanicStore
import Synchronization
import Testing

@Suite("Outbox checkpoints off the press path", .timeLimit(.minutes(2)))
struct CheckpointTests {
    static func walBytes(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// The checkpoints a running checkpointer reported, in order.
    final class Heard: Sendable {
        let causes = Mutex<[Outbox.CheckpointCause]>([])
        let (events, sink) = AsyncStream.makeStream(of: Outbox.CheckpointCause.self)
        var handler: @Sendable (Outbox.CheckpointCause, Int) -> Void {
            { cause, _ in
                self.causes.withLock { $0.append(cause) }
                self.sink.yield(cause)
            }
        }
    }

    @Test("a burst: checkpoints at the busy bound, the WAL bounded at the limit; without it, SQLite's own")
    func boundedWAL() async throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        let wal = scratch.path + "-wal"
        // The peer: SQLite's auto-checkpoint inside the commits.
        var largestAlone = 0
        for index in 0..<1000 {
            _ = try outbox.append(
                draft(.position, at: RecordTime(epochMilliseconds: t0.epochMilliseconds + Int64(index))))
            largestAlone = max(largestAlone, Self.walBytes(wal))
        }
        // The checkpointer takes over. Every append makes at least two WAL frames (8 KiB): 3,000 of them unchecked
        // would be over 24 MiB. A writer that never pauses keeps the background checkpoints at the busy bound from
        // completing (new frames arrive while they copy), so the WAL is not rewound there; they copy most of it, and
        // the commit at `walFrameLimit` finishes the job (copying little) and rewinds it.
        let heard = Heard()
        let burst = 3000
        let largest = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                await outbox.runCheckpointer(clock: SystemMonotonicClock(), onCheckpoint: heard.handler)
                return nil
            }
            group.addTask {
                var largest = 0
                for index in 0..<burst {
                    _ = try outbox.append(draft(.position))
                    largest = max(largest, Self.walBytes(wal))
                    if index % 20 == 0 { await Task.yield() }
                }
                return largest
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return 0
        }
        let bound = (Outbox.walFrameLimit + 64) * 4096
        #expect(largest < bound, "the WAL reached \(largest) bytes with the checkpointer running")
        #expect(heard.causes.withLock { $0.contains(.busy) }, "no checkpoint at the busy bound during the burst")
        #expect(largestAlone < 6 << 20)
        // Handed back: SQLite's own checkpoints bring it back to its 1 MiB cut after the checkpointer stopped.
        for _ in 0..<1000 { _ = try outbox.append(draft(.position)) }
        #expect(Self.walBytes(wal) < 6 << 20, "after the checkpointer stopped the WAL is \(Self.walBytes(wal)) bytes")
        #expect(try outbox.records().count == 2000 + burst)
        #expect(scratch.verify(try outbox.records().map(\.envelope)).isEmpty)
    }

    @Test("a writer that pauses: the checkpoint waits for the pause, each commit moves it on, then the WAL rewinds")
    func idleCheckpoint() async throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        let wal = scratch.path + "-wal"
        let clock = ManualClock()
        let heard = Heard()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await outbox.runCheckpointer(clock: clock, onCheckpoint: heard.handler) }
            defer { group.cancelAll() }
            // Commit until the checkpointer waits for a pause (it has `idleCheckpointFrames` in the WAL).
            var appended = 0
            while clock.sleeperCount == 0 {
                _ = try outbox.append(draft(.position))
                appended += 1
                try #require(appended < 500, "the checkpointer never waited for a pause")
                await Task.yield()
            }
            #expect(heard.causes.withLock { $0.isEmpty }, "a checkpoint ran without a pause")
            // A commit within the quiet time moves the checkpoint on: woken at the first deadline, it waits again.
            clock.advance(by: Outbox.checkpointQuiet / 2)
            _ = try outbox.append(draft(.position))
            clock.advance(by: Outbox.checkpointQuiet / 2)
            while clock.sleeperCount == 0 && heard.causes.withLock({ $0.isEmpty }) { await Task.yield() }
            #expect(heard.causes.withLock { $0.isEmpty }, "the checkpoint ran inside the writer's quiet time")
            let grown = Self.walBytes(wal)
            // The pause: the checkpoint runs, and the next commits write the WAL from its start again.
            clock.advance(by: Outbox.checkpointQuiet)
            var events = heard.events.makeAsyncIterator()
            #expect(await events.next() == .idle)
            for _ in 0..<5 { _ = try outbox.append(draft(.position)) }
            #expect(Self.walBytes(wal) == grown, "the WAL grew after the idle checkpoint: it was not rewound")
        }
        #expect(try outbox.records().count >= 7)
        #expect(scratch.verify(try outbox.records().map(\.envelope)).isEmpty)
    }
}
