import Foundation
import PanicCore
import PanicStore
import Synchronization
import Testing

/// Claims and confirmations commit without waiting for the disk (`synchronous = NORMAL`), every other commit waits
/// (`FULL`): a backlog batch costs the box no fsync of its own, and "stored" still means durable (issue 29: three
/// `synchronous = FULL` commits in a row per batch, the box's claim and settle among them). The crash half of the
/// argument is `CLITests/DrainCrashTests` (a real SIGKILL) and docs/outbox.md (power loss).
@Suite("Outbox delivery transitions do not wait for the disk")
struct DeliveryDurabilityTests {
    final class Levels: Sendable {
        let seen = Mutex<[Int64]>([])
        func take() -> [Int64] {
            seen.withLock { levels in
                defer { levels = [] }; return levels
            }
        }
    }

    @Test("claims, confirmations and failures commit at NORMAL; appends and alert states at FULL, right after them too")
    func commitLevels() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "a")
        let levels = Levels()
        outbox.observeCommitDurability { level in levels.seen.withLock { $0.append(level) } }
        let old = RecordTime(epochMilliseconds: t0.epochMilliseconds - 3_600_000)

        _ = try outbox.append(contentsOf: (0..<10).map { _ in draft(.position, at: old) })
        #expect(levels.take() == [2], "append")
        let batch = try outbox.claimRoutine(for: "a", limit: 4, now: t0).map(\.sequence)
        #expect(batch == [1, 2, 3, 4])
        #expect(levels.take() == [1], "claim")
        try outbox.markDelivered(batch, backend: "a")
        #expect(levels.take() == [1], "confirmation")
        _ = try outbox.append(draft(.emergency(input: "p")))
        #expect(levels.take() == [2], "append after a confirmation")
        let urgent = try outbox.claimUrgent(for: "a", limit: 4).map(\.sequence)
        #expect(urgent == [11])
        #expect(levels.take() == [1], "claim of the alert lane")
        try outbox.markFailed(urgent, backend: "a")
        #expect(levels.take() == [1], "failure")
        try outbox.recordAlertState(.sent, alert: "x")
        #expect(levels.take() == [2], "alert state after a failure")
        _ = try outbox.claimRoutine(for: "a", limit: 2, now: t0)
        #expect(levels.take() == [1], "claim")
        _ = try outbox.append(draft(.position))
        #expect(levels.take() == [2], "append after a claim")

        // The delivery state is what the transitions made it.
        let status = try outbox.status()
        #expect(status.backends.first?.highestDelivered == 4)
        #expect(status.backends.first?.inFlight == 2)
        #expect(status.backends.first?.undelivered == 8)
    }
}
