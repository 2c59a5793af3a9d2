import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning
import PanicStore
import Testing

/// A scratch directory with a device key, removed at the end of each test.
final class Scratch {
    let directory: String
    let signer = RecordSigner(key: .generate())
    var logger = Logger(label: "test.outbox")

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logger.logLevel = .critical
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var path: String { directory + "/outbox.db" }

    func open(_ configuration: OutboxConfiguration = OutboxConfiguration()) throws -> Outbox {
        try Outbox(path: path, sealer: signer, configuration: configuration, logger: logger)
    }

    func verify(_ envelopes: [String]) -> [VerificationFinding] {
        var verifier = RecordVerifier(keys: [signer.key.identity])
        return envelopes.flatMap { verifier.verify($0).findings }.filter { !$0.isOK } + verifier.gaps()
    }
}

let t0 = RecordTime(epochMilliseconds: 1_740_823_530_000)

func draft(_ body: RecordBody, at time: RecordTime = t0) -> RecordDraft {
    RecordDraft(id: UUID().uuidString.lowercased(), time: time, timeSource: .gnss, fix: nil, body: body)
}

func stored(_ outcome: AppendOutcome) -> StoredRecord? {
    if case .stored(let record) = outcome { record } else { nil }
}

@Suite("Outbox")
struct OutboxTests {
    @Test("appended records are numbered, chained and verify; numbering continues after reopening")
    func appendAndReopen() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open()
        for index in 1...5 { #expect(stored(try outbox!.append(draft(.position)))?.sequence == Int64(index)) }
        outbox = nil
        outbox = try scratch.open()
        let batch = try outbox!.append(contentsOf: [draft(.emergency(input: "p")), draft(.position)])
        #expect(batch.compactMap(stored).map(\.sequence) == [6, 7])
        let all = try outbox!.records()
        #expect(all.map(\.sequence) == Array(1...7))
        #expect(scratch.verify(all.map(\.envelope)).isEmpty)
    }

    @Test("the alert lane takes urgent records oldest first; the backlog lane live records newest first, then the rest")
    func drainOrder() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open(OutboxConfiguration(liveWindowMilliseconds: 60_000))
        let old = RecordTime(epochMilliseconds: t0.epochMilliseconds - 3_600_000)
        _ = try outbox.append(contentsOf: [
            draft(.position, at: old), draft(.position, at: old), draft(.tamper(reason: .enclosure, input: "lid")),
            draft(.position), draft(.emergency(input: "p")), draft(.position), draft(.help(input: "h")),
        ])
        try outbox.register(backend: "old", backlogOrder: .oldestFirst)
        try outbox.register(backend: "new", backlogOrder: .newestFirst)
        let now = RecordTime(epochMilliseconds: t0.epochMilliseconds + 1000)
        #expect(try outbox.claimUrgent(for: "old", limit: 10).map(\.sequence) == [3, 5, 7])
        #expect(try outbox.claimRoutine(for: "old", limit: 10, now: now).map(\.sequence) == [6, 4, 1, 2])
        #expect(try outbox.claimRoutine(for: "new", limit: 3, now: now).map(\.sequence) == [6, 4, 2])
        #expect(try outbox.claimUrgent(for: "new", limit: 2).map(\.sequence) == [3, 5])
        #expect(try outbox.claimRoutine(for: "new", limit: 10, now: now).map(\.sequence) == [1])
        #expect(try outbox.claimUrgent(for: "new", limit: 10).map(\.sequence) == [7])
        // Claimed records are in flight: nothing more to send until they are marked.
        #expect(try outbox.claimUrgent(for: "old", limit: 10).isEmpty)
        #expect(try outbox.claimRoutine(for: "old", limit: 10, now: now).isEmpty)
    }

    @Test("an alert's clear is urgent: it travels on the alert lane, also in an outbox written before step 2")
    func clearedIsUrgent() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open()
        _ = try outbox!.append(contentsOf: [
            draft(.position), draft(.emergency(input: "p")), draft(.cleared(alert: "a", by: "control-room")),
        ])
        try outbox!.register(backend: "cr")
        #expect(try outbox!.claimUrgent(for: "cr", limit: 10).map(\.kind) == [.emergency, .cleared])
        #expect(try outbox!.claimRoutine(for: "cr", limit: 10, now: t0).map(\.kind) == [.position])
        outbox = nil
        do {
            // As the first schema left it: clears ranked with positions, schema version 1, nothing delivered.
            let old = try SQLiteConnection(path: scratch.path)
            try old.execute(
                """
                UPDATE records SET priority = 1 WHERE kind = 'cleared'; DELETE FROM delivery; PRAGMA user_version = 1;
                DROP INDEX records_by_delivered; ALTER TABLE records DROP COLUMN delivered_count; DROP TABLE sms;
                DROP TABLE pending; DROP TABLE tally;
                """)
        }
        outbox = try scratch.open()
        #expect(try outbox!.claimUrgent(for: "cr", limit: 10).map(\.kind) == [.emergency, .cleared])
        let check = try SQLiteConnection(path: scratch.path)
        #expect(try check.schemaVersion == 6)
    }

    @Test("failed records are claimed again; delivered ones never; in-flight ones again after a restart")
    func deliveryState() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open()
        _ = try outbox!.append(contentsOf: [draft(.position), draft(.position), draft(.position)])
        try outbox!.register(backend: "cr")
        #expect(try outbox!.claimRoutine(for: "cr", limit: 3, now: t0).count == 3)
        try outbox!.markDelivered([1], backend: "cr")
        try outbox!.markFailed([2], backend: "cr")
        #expect(try outbox!.claimRoutine(for: "cr", limit: 10, now: t0).map(\.sequence) == [2])
        #expect(try outbox!.claimRoutine(for: "cr", limit: 10, now: t0).isEmpty)
        #expect(try outbox!.attempts(2, backend: "cr") == 2)
        outbox = nil
        outbox = try scratch.open()
        // Live records, newest first.
        #expect(try outbox!.claimRoutine(for: "cr", limit: 10, now: t0).map(\.sequence) == [3, 2])
        let status = try outbox!.status()
        #expect(status.backends.first?.highestDelivered == 1)
        #expect(status.undelivered == 2)
        #expect(throws: OutboxError.unknownBackend("nope")) { try outbox!.claimUrgent(for: "nope", limit: 1) }
        #expect(throws: OutboxError.unknownBackend("nope")) {
            try outbox!.claimRoutine(for: "nope", limit: 1, now: t0)
        }
    }

    @Test("when full it drops delivered records first, then the oldest undelivered positions, never alerts")
    func eviction() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open(OutboxConfiguration(maxRecords: 6))
        try outbox.register(backend: "cr")
        _ = try outbox.append(contentsOf: [
            draft(.position), draft(.emergency(input: "p")), draft(.position), draft(.position), draft(.position),
            draft(.tamper(reason: .wireCut, input: "p")),
        ])
        _ = try outbox.claimUrgent(for: "cr", limit: 10)
        _ = try outbox.claimRoutine(for: "cr", limit: 10, now: t0)
        try outbox.markDelivered([4], backend: "cr")
        _ = try outbox.append(draft(.position))  // 7 > 6: delivered #4 goes, nothing counted as dropped
        #expect(try outbox.records().map(\.sequence) == [1, 2, 3, 5, 6, 7])
        #expect(try outbox.status().droppedUnreported == 0)
        _ = try outbox.append(contentsOf: [draft(.emergency(input: "p")), draft(.help(input: "h"))])
        // Two more over: the oldest undelivered positions (#1, #3) go; the alerts stay.
        #expect(try outbox.records().map(\.sequence) == [2, 5, 6, 7, 8, 9])
        #expect(try outbox.status().droppedUnreported == 2)
        _ = try outbox.append(contentsOf: (0..<4).map { _ in draft(.emergency(input: "p")) })
        // Only alerts and positions #5 #7 were left to drop: positions go, then the bound is exceeded.
        let kinds = try outbox.records().map(\.kind)
        #expect(!kinds.contains(.position))
        #expect(kinds.filter(\.isAlert).count == 8)
        let health = try #require(stored(try outbox.append(draft(.health(HealthReport())))))
        let payload = try #require(Base64URL.decode(health.envelope.split(separator: ".")[1]))
        let record = try JSONDecoder().decode(Record.self, from: payload)
        guard case .health(let report) = record.body else { throw CancellationError() }
        #expect(report.droppedRecords == 4)
        #expect(try outbox.status().droppedUnreported == 0)
    }

    @Test("at least 40,000 positions fit in the default bounds")
    func fortyThousandPositions() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        for chunk in 0..<40 {
            _ = try outbox.append(contentsOf: (0..<1000).map { SampleDrafts.draft(chunk * 1000 + $0 * 50 + 1) })
        }
        let status = try outbox.status()
        #expect(status.records == 40_000)
        #expect(status.droppedUnreported == 0)
    }

    @Test("a corrupt database is moved aside, a fresh outbox starts, and the next health record says so")
    func corruptDatabase() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open()
        _ = try outbox!.append(contentsOf: (0..<200).map { _ in draft(.position) })
        try outbox!.checkpoint()
        outbox = nil
        // Overwrite the middle of the file (page 2 onward) with garbage.
        let handle = try #require(FileHandle(forUpdatingAtPath: scratch.path))
        try handle.seek(toOffset: 4096)
        handle.write(Data(repeating: 0xA5, count: 8192))
        try handle.close()
        outbox = try scratch.open()
        let moved = try FileManager.default.contentsOfDirectory(atPath: scratch.directory)
            .filter { $0.hasPrefix("outbox.db.corrupt-") }
        #expect(moved.contains { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }, "\(moved)")
        #expect(try outbox!.status().faults == ["outbox-corrupt-moved-aside"])
        let health = try #require(stored(try outbox!.append(draft(.health(HealthReport())))))
        #expect(health.sequence == 1)
        #expect(health.envelope.isEmpty == false)
        #expect(try outbox!.status().faults.isEmpty)
    }

    @Test("on a full disk alerts wait in memory and are committed, in order, once space returns")
    func fullDisk() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open(OutboxConfiguration(maxPageCount: 16))
        let big = String(repeating: "x", count: 3000)
        var committed: [Int64] = []
        var heldIDs: [String] = []
        for _ in 0..<40 where heldIDs.isEmpty {
            let alert = draft(.emergency(input: big))
            switch try outbox.append(alert) {
            case .stored(let record): committed.append(record.sequence)
            case .held(let id): heldIDs.append(id)
            }
        }
        #expect(!committed.isEmpty)
        #expect(heldIDs.count == 1, "the page limit was never reached")
        let tamper = draft(.tamper(reason: .enclosure, input: big))
        #expect(try outbox.append(tamper) == .held(id: tamper.id))
        #expect(outbox.heldCount == 2)
        #expect(try outbox.status().faults.contains("disk-full"))
        #expect(try outbox.retryHeld().isEmpty)
        try outbox.setMaxPageCount(10_000)  // space returns
        let flushed = try outbox.retryHeld()
        #expect(flushed.map(\.sequence) == [committed.last! + 1, committed.last! + 2])
        #expect(flushed.map(\.kind) == [.emergency, .tamper])
        #expect(outbox.heldCount == 0)
        #expect(try outbox.status().faults.isEmpty)
        #expect(scratch.verify(try outbox.records().map(\.envelope)).isEmpty)
    }
}
