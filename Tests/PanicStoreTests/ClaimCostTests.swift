import Foundation
import PanicCore
import PanicSQLite
import PanicStore
import Testing

/// Claims read what a backend still lacks from the `pending` table: their work is their batch's, however many
/// delivered records came before (issue 29: a claim used to step over every delivered row, 25 ms of CPU each with
/// 39k of them, so a backlog drained in quadratic time). Work is counted in SQLite's virtual-machine steps, which do
/// not depend on the machine's speed or load.
@Suite("Outbox claims cost their batch")
struct ClaimCostTests {
    let old = RecordTime(epochMilliseconds: t0.epochMilliseconds - 3_600_000)

    /// Appends `count` records in chunks, alternating alerts and positions from `start`, a second apart.
    func fill(_ outbox: Outbox, count: Int, from start: RecordTime, alerts: Bool) throws {
        for chunk in stride(from: 0, to: count, by: 500) {
            _ = try outbox.append(
                contentsOf: (chunk..<min(chunk + 500, count)).map { index in
                    let body: RecordBody = alerts && index % 2 == 0 ? .emergency(input: "p") : .position
                    return draft(body, at: RecordTime(epochMilliseconds: start.epochMilliseconds + Int64(index) * 1000))
                })
        }
    }

    /// Claims everything `backend` lacks, both lanes, and confirms it.
    func deliverAll(_ outbox: Outbox, to backend: String) throws {
        let all =
            try outbox.claimUrgent(for: backend, limit: 100_000).map(\.sequence)
            + outbox.claimRoutine(for: backend, limit: 100_000, now: t0).map(\.sequence)
        try outbox.markDelivered(all, backend: backend)
    }

    @Test("with 6,000 delivered records ahead, each lane's claim of a few records costs a few records' work")
    func claimsSkipDelivered() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "oldest", backlogOrder: .oldestFirst)
        try outbox.register(backend: "newest", backlogOrder: .newestFirst)
        try fill(
            outbox, count: 6000, from: RecordTime(epochMilliseconds: old.epochMilliseconds - 7_000_000), alerts: true)
        try deliverAll(outbox, to: "oldest")
        try deliverAll(outbox, to: "newest")
        // What is left to send: three old positions, two live ones, two alerts.
        let fresh = try outbox.append(contentsOf: [
            draft(.position, at: old), draft(.emergency(input: "p")), draft(.position, at: old), draft(.position),
            draft(.help(input: "h")), draft(.position, at: old), draft(.position),
        ]).compactMap { outcome -> Int64? in if case .stored(let record) = outcome { record.sequence } else { nil } }
        #expect(fresh.count == 7)
        let (old1, alert1, old2, live1, alert2, old3, live2) =
            (fresh[0], fresh[1], fresh[2], fresh[3], fresh[4], fresh[5], fresh[6])
        let bound = 3000
        for (backend, backlog) in [("oldest", [old1, old2, old3]), ("newest", [old3, old2, old1])] {
            _ = outbox.takeVMSteps()
            #expect(try outbox.claimUrgent(for: backend, limit: 10).map(\.sequence) == [alert1, alert2])
            let urgentSteps = outbox.takeVMSteps()
            #expect(urgentSteps < bound, "alert lane, \(backend): \(urgentSteps) steps for 2 records")
            #expect(
                try outbox.claimRoutine(for: backend, limit: 10, now: t0).map(\.sequence) == [live2, live1] + backlog)
            let routineSteps = outbox.takeVMSteps()
            #expect(routineSteps < bound, "backlog lane, \(backend): \(routineSteps) steps for 5 records")
            // And nothing more: claimed records are in flight.
            #expect(try outbox.claimUrgent(for: backend, limit: 10).isEmpty)
            #expect(try outbox.claimRoutine(for: backend, limit: 10, now: t0).isEmpty)
            _ = outbox.takeVMSteps()
            // A confirmation of a batch costs the batch too.
            try outbox.markDelivered([alert1, alert2, live1, live2] + backlog, backend: backend)
            let markSteps = outbox.takeVMSteps()
            #expect(markSteps < bound, "confirmation, \(backend): \(markSteps) steps for 7 records")
        }
    }

    @Test("live records come newest first whether few or many are live (two walks, one order)")
    func liveWalksAgree() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open(OutboxConfiguration(liveWindowMilliseconds: 600_000))
        try outbox.register(backend: "cr")
        // 300 old positions, then 1,000 a second apart of which the last 500 are live: at first many live (walked by
        // sequence), then fewer than a few batches (walked by time).
        try fill(
            outbox, count: 300, from: RecordTime(epochMilliseconds: old.epochMilliseconds - 600_000), alerts: false)
        try fill(
            outbox, count: 1000, from: RecordTime(epochMilliseconds: t0.epochMilliseconds - 500_000), alerts: false)
        var order: [Int64] = []
        let now = RecordTime(epochMilliseconds: t0.epochMilliseconds + 600_000)
        while true {
            let batch = try outbox.claimRoutine(for: "cr", limit: 70, now: now).map(\.sequence)
            if batch.isEmpty { break }
            order += batch
        }
        // Live (at or after t0: 801...1300) newest first, then the backlog oldest first.
        #expect(order == (801...1300).reversed().map(Int64.init) + (1...800).map(Int64.init))
    }

    @Test("an outbox written before the pending table carries over: each backend gets exactly what it lacked")
    func migrationCarriesOver() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open()
        try outbox!.register(backend: "a")
        try outbox!.register(backend: "b", backlogOrder: .newestFirst)
        try fill(outbox!, count: 40, from: old, alerts: true)
        // "a": some confirmed, some failed, some left in flight; "b": the alerts confirmed.
        let claimedA = try outbox!.claimRoutine(for: "a", limit: 12, now: t0).map(\.sequence)
        try outbox!.markDelivered(Array(claimedA.prefix(6)), backend: "a")
        try outbox!.markFailed(Array(claimedA.dropFirst(6).prefix(3)), backend: "a")
        let alertsB = try outbox!.claimUrgent(for: "b", limit: 100).map(\.sequence)
        try outbox!.markDelivered(alertsB, backend: "b")
        outbox = nil
        // As the schema was before step 5: no pending table (what every outbox in the field has).
        do {
            let downgrade = try SQLiteConnection(path: scratch.path)
            try downgrade.execute("DROP TABLE pending; DROP TABLE tally; PRAGMA user_version = 4;")
        }
        outbox = try scratch.open()
        let all = Set((1...40).map(Int64.init))
        let lackA =
            try outbox!.claimUrgent(for: "a", limit: 100).map(\.sequence)
            + outbox!.claimRoutine(for: "a", limit: 100, now: t0).map(\.sequence)
        #expect(lackA.count == Set(lackA).count, "no record twice")
        #expect(Set(lackA) == all.subtracting(claimedA.prefix(6)), "failed and in-flight ones again, delivered never")
        let lackB = try outbox!.claimRoutine(for: "b", limit: 100, now: t0).map(\.sequence)
        #expect(lackB == all.subtracting(alertsB).sorted(by: >), "b: the positions, newest first")
        #expect(try outbox!.claimUrgent(for: "b", limit: 100).isEmpty)
        #expect(try SQLiteConnection(path: scratch.path).schemaVersion >= 5)
    }
}
