import Foundation
import PanicCore
import PanicStore
import Testing

@Suite("Outbox checkpoints off the press path", .timeLimit(.minutes(2)))
struct CheckpointTests {
    static func walBytes(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    @Test("with the checkpointer running, commits only signal and the WAL stays bounded; without it, SQLite's own")
    func boundedWAL() async throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        let wal = scratch.path + "-wal"
        let appends = 1000
        // The peer: SQLite's auto-checkpoint inside the commits.
        var largestAlone = 0
        for index in 0..<appends {
            _ = try outbox.append(
                draft(.position, at: RecordTime(epochMilliseconds: t0.epochMilliseconds + Int64(index))))
            largestAlone = max(largestAlone, Self.walBytes(wal))
        }
        // The checkpointer takes over: the WAL grows only until it has copied the frames, then is rewound.
        let largest = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                await outbox.runCheckpointer()
                return nil
            }
            group.addTask {
                var largest = 0
                for index in 0..<appends {
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
        // Every append made at least two WAL frames (8 KiB): 1000 of them unchecked would be over 8 MiB.
        #expect(largest < 6 << 20, "the WAL reached \(largest) bytes with the checkpointer running")
        #expect(largestAlone < 6 << 20)
        // Handed back: SQLite's own checkpoints keep it bounded again after the checkpointer stopped.
        var after = 0
        for _ in 0..<appends {
            _ = try outbox.append(draft(.position))
            after = max(after, Self.walBytes(wal))
        }
        #expect(after < 6 << 20, "after the checkpointer stopped the WAL reached \(after) bytes")
        #expect(try outbox.records().count == 3 * appends)
        #expect(scratch.verify(try outbox.records().map(\.envelope)).isEmpty)
    }
}
