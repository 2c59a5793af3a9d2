import Foundation
import PanicCore
import PanicStore
import Testing

@Suite("Outbox status from counters")
struct OutboxStatusTests {
    /// What the status must say, worked out from the sets of sequence numbers each backend has.
    struct Expected {
        var stored: Set<Int64>
        var delivered: [String: Set<Int64>]
        var inFlight: [String: Set<Int64>]

        func check(_ status: OutboxStatus, _ outbox: Outbox) throws {
            let records = try outbox.records()
            #expect(Set(records.map(\.sequence)) == stored)
            #expect(status.records == stored.count)
            let everyone = delivered.values.reduce(stored) { $0.intersection($1) }
            let undelivered = stored.subtracting(everyone)
            #expect(status.undelivered == undelivered.count)
            let times = records.filter { undelivered.contains($0.sequence) }.map(\.time.epochMilliseconds)
            #expect(status.oldestUndelivered?.epochMilliseconds == times.min())
            for backend in status.backends {
                let have = delivered[backend.name, default: []].intersection(stored)
                #expect(backend.undelivered == stored.count - have.count, "\(backend.name)")
                #expect(backend.inFlight == inFlight[backend.name, default: []].intersection(stored).count)
                #expect(backend.highestDelivered == (delivered[backend.name, default: []].max() ?? 0))
            }
        }
    }

    @Test("status counts by identity at a few thousand records: claims, deliveries, failures, eviction, reopening")
    func statusMatchesTheRecords() throws {
        let scratch = try Scratch()
        var outbox: Outbox? = try scratch.open(OutboxConfiguration(maxRecords: 3000))
        try outbox!.register(backend: "a")
        try outbox!.register(backend: "b", backlogOrder: .newestFirst)
        var expected = Expected(stored: [], delivered: [:], inFlight: [:])
        let now = RecordTime(epochMilliseconds: t0.epochMilliseconds + 10_000_000)
        // Appended 50 to a transaction: a few dozen fsyncs, so the suite does not hold a test thread for long.
        for index in stride(from: 0, to: 3600, by: 50) {
            _ = try outbox!.append(
                contentsOf: (index..<(index + 50)).map { index in
                    let body: RecordBody = index % 500 == 7 ? .emergency(input: "p") : .position
                    return draft(body, at: RecordTime(epochMilliseconds: t0.epochMilliseconds + Int64(index) * 1000))
                })
            if index % 400 == 350 {
                // "a" takes batches and confirms them; "b" takes some, fails some, and leaves one in flight.
                let forA = try outbox!.claimRoutine(for: "a", limit: 300, now: now).map(\.sequence)
                try outbox!.markDelivered(forA, backend: "a")
                expected.delivered["a", default: []].formUnion(forA)
                let urgent = try outbox!.claimUrgent(for: "b", limit: 10).map(\.sequence)
                try outbox!.markDelivered(urgent, backend: "b")
                expected.delivered["b", default: []].formUnion(urgent)
                let failed = try outbox!.claimRoutine(for: "b", limit: 50, now: now).map(\.sequence)
                try outbox!.markFailed(failed, backend: "b")
                let delivered = try outbox!.claimRoutine(for: "b", limit: 120, now: now).map(\.sequence)
                try outbox!.markDelivered(delivered, backend: "b")
                expected.delivered["b", default: []].formUnion(delivered)
                expected.inFlight["b", default: []].formUnion(
                    try outbox!.claimRoutine(for: "b", limit: 5, now: now).map(\.sequence))
            }
        }
        expected.stored = Set(try outbox!.records().map(\.sequence))
        #expect(expected.stored.count == 3000, "eviction kept the bound")
        #expect(expected.stored.contains(8), "the first emergency is never evicted undelivered")
        try expected.check(try outbox!.status(), outbox!)
        // Records in flight at a restart are pending again; the counters are counted afresh and agree.
        outbox = nil
        outbox = try scratch.open(OutboxConfiguration(maxRecords: 3000))
        expected.inFlight = [:]
        try expected.check(try outbox!.status(), outbox!)
        let rest =
            try outbox!.claimRoutine(for: "a", limit: 5000, now: now).map(\.sequence)
            + outbox!.claimUrgent(for: "a", limit: 100).map(\.sequence)
        try outbox!.markDelivered(rest, backend: "a")
        expected.delivered["a", default: []].formUnion(rest)
        try expected.check(try outbox!.status(), outbox!)
        // `panicd outbox status` beside the running daemon reads the file without the key: the same figures.
        let fromFile = try Outbox.status(readingOnly: scratch.path)
        try expected.check(fromFile, outbox!)
        #expect(fromFile == (try outbox!.status()))
        // And the audit view: every record's envelope, with the backends that confirmed it.
        let envelopes = try Outbox.envelopes(readingOnly: scratch.path)
        #expect(envelopes.map(\.sequence) == (try outbox!.records().map(\.sequence)))
        #expect(envelopes.map(\.envelope) == (try outbox!.records().map(\.envelope)))
        for entry in envelopes {
            let have = ["a", "b"].filter { expected.delivered[$0, default: []].contains(entry.sequence) }
            #expect(entry.deliveredTo == have, "record \(entry.sequence)")
        }
    }

    @Test("a read-only look at a missing outbox names the file and creates nothing")
    func readOnlyMissing() throws {
        let scratch = try Scratch()
        #expect(throws: (any Error).self) { try Outbox.status(readingOnly: scratch.path) }
        #expect(!FileManager.default.fileExists(atPath: scratch.path))
    }

    @Test("a stream mark with a torn slot still gives the previous mark")
    func tornMark() throws {
        let scratch = try Scratch()
        let path = scratch.directory + "/device.key.stream"
        var mark: StreamMark? = try StreamMark(path: path)
        try mark!.write(.init(device: "bus-1", sequence: 41, hash: "h41"))
        try mark!.write(.init(device: "bus-1", sequence: 42, hash: "h42"))
        mark = nil
        #expect(try StreamMark(path: path).mark == .init(device: "bus-1", sequence: 42, hash: "h42"))
        // The slot holding 42 is torn mid-write (the first slot held 41, the second 42).
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seek(toOffset: 256 + 30)
        handle.write(Data("garbage".utf8))
        try handle.close()
        #expect(try StreamMark(path: path).mark == .init(device: "bus-1", sequence: 41, hash: "h41"))
    }
}
