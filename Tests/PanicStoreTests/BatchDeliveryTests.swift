import Foundation
import PanicCore
import PanicSQLite
import PanicStore
import Testing

/// Claims and confirmations move a whole batch in a few set-based statements (issue 29: six statements per record
/// before — a state read, an upsert and a `pending` or `delivered_count` write on claim and again on settle — where
/// a raw SQLite drain runs about one per batch), and keep the outbox's promises on real files: a record claimed but
/// not acknowledged when the box dies is sent again, an acknowledged one never is.
@Suite("Outbox claims and confirms a batch at a time")
struct BatchDeliveryTests {
    /// Appends `count` positions an hour old (the backlog lane), in chunks.
    func fill(_ outbox: Outbox, count: Int) throws {
        let old = RecordTime(epochMilliseconds: t0.epochMilliseconds - 3_600_000)
        for chunk in stride(from: 0, to: count, by: 500) {
            _ = try outbox.append(contentsOf: (chunk..<min(chunk + 500, count)).map { _ in draft(.position, at: old) })
        }
    }

    /// The outbox's files as they are on the card this instant (the database and its WAL, no shared-memory index):
    /// what a box that lost power now would open at its next start.
    func crashCopy(_ path: String, in scratch: Scratch, to name: String) throws -> String {
        let copy = scratch.directory + "/" + name
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
        }
        return copy
    }

    @Test("a claim of 500 and its confirmation each run a handful of statements, not a few per record")
    func statementsPerBatch() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "a")
        try outbox.register(backend: "b")
        try fill(outbox, count: 1000)
        for backend in ["a", "b"] {
            _ = outbox.takeStatementRuns()
            let batch = try outbox.claimRoutine(for: backend, limit: 500, now: t0).map(\.sequence)
            let claimRuns = outbox.takeStatementRuns()
            #expect(batch == Array(1...500))
            #expect(claimRuns <= 12, "claim of 500 for \(backend): \(claimRuns) statements")
            try outbox.markDelivered(batch, backend: backend)
            let settleRuns = outbox.takeStatementRuns()
            #expect(settleRuns <= 12, "confirmation of 500 for \(backend): \(settleRuns) statements")
            let failed = try outbox.claimRoutine(for: backend, limit: 500, now: t0).map(\.sequence)
            _ = outbox.takeStatementRuns()
            try outbox.markFailed(failed, backend: backend)
            let failRuns = outbox.takeStatementRuns()
            #expect(failRuns <= 12, "failure of 500 for \(backend): \(failRuns) statements")
        }
        // The counters the batches moved agree with a full count of the rows (the first half delivered to both).
        try OutboxTallyTests.check(scratch.path, "after batch claims, confirmations and failures")
        let status = try outbox.status()
        #expect(status.undelivered == 500)
        #expect(status.backends.map(\.inFlight) == [0, 0])
        #expect(status.backends.map(\.highestDelivered) == [500, 500])
        // The failed half is pending again, oldest first, and only it.
        #expect(try outbox.claimRoutine(for: "a", limit: 1000, now: t0).map(\.sequence) == Array(501...1000))
    }

    @Test("a batch named twice, with records evicted since, or confirmed twice moves each stored record once")
    func duplicatesAndGone() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "a")
        try fill(outbox, count: 20)
        let batch = try outbox.claimRoutine(for: "a", limit: 10, now: t0).map(\.sequence)
        try outbox.markDelivered(batch + batch.prefix(3) + [9_999], backend: "a")
        try outbox.markDelivered(Array(batch.prefix(5)), backend: "a")
        try OutboxTallyTests.check(scratch.path, "after duplicate and repeated confirmations")
        let status = try outbox.status()
        #expect(status.undelivered == 10)
        #expect(status.backends.first?.inFlight == 0)
        #expect(status.backends.first?.highestDelivered == 10)
        let connection = try SQLiteConnection(path: scratch.path, create: false)
        #expect(try connection.integer("SELECT count(*) FROM delivery WHERE seq = 9999") == 0)
        #expect(try connection.integer("SELECT max(delivered_count) FROM records") == 1)
    }

    @Test("power lost between claim and confirmation: the unconfirmed batch is sent again, the confirmed one never")
    func crashBetweenClaimAndSettle() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "cr")
        try fill(outbox, count: 1200)
        let first = try outbox.claimRoutine(for: "cr", limit: 500, now: t0).map(\.sequence)
        try outbox.markDelivered(first, backend: "cr")
        let second = try outbox.claimRoutine(for: "cr", limit: 500, now: t0).map(\.sequence)
        #expect(second == Array(501...1000))
        // The card as it is now: the second batch claimed (in flight), not acknowledged.
        let crashed = try crashCopy(scratch.path, in: scratch, to: "crashed.db")
        let reopened = try Outbox(path: crashed, sealer: scratch.signer, logger: scratch.logger)
        let again = try reopened.claimRoutine(for: "cr", limit: 1000, now: t0).map(\.sequence)
        #expect(again == Array(501...1200), "the unacknowledged batch and the rest, oldest first; never the first")
        #expect(try reopened.attempts(501, backend: "cr") == 2)
        #expect(try reopened.attempts(1, backend: "cr") == 1)
        try OutboxTallyTests.check(crashed, "after the restart's reset and a claim")
        // Acknowledged, then power lost again before anything else: nothing of it is sent a third time.
        try reopened.markDelivered(again, backend: "cr")
        let settled = try crashCopy(crashed, in: scratch, to: "settled.db")
        let last = try Outbox(path: settled, sealer: scratch.signer, logger: scratch.logger)
        #expect(try last.claimRoutine(for: "cr", limit: 1000, now: t0).isEmpty)
        #expect(try last.status().undelivered == 0)
    }
}
