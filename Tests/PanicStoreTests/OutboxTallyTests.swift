import Foundation
import PanicCore
import PanicSQLite
import PanicStore
import Testing

/// `panicd outbox status` reads the counters the outbox keeps in its file (`tally`), written by the transactions
/// that move them: they must agree with a full count of the rows after anything that changes them.
@Suite("Outbox status counters kept in the file")
struct OutboxTallyTests {
    /// The status figures counted from the rows, the slow way.
    struct Counted {
        struct Backend {
            var name: String
            var undelivered: Int
            var inFlight: Int
            var highestDelivered: Int64
        }
        var records: Int
        var bytes: Int64
        var lastSequence: Int64
        var undelivered: Int
        var backends: [Backend]
    }

    static func fullCount(_ path: String) throws -> Counted {
        let connection = try SQLiteConnection(path: path, create: false)
        func integer(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64 {
            let statement = try connection.prepare(sql).bind(values)
            return try statement.step() ? statement.integer(0) : 0
        }
        let records = Int(try integer("SELECT count(*) FROM records"))
        let names = try connection.prepare("SELECT name FROM backends ORDER BY name")
        var backends: [Counted.Backend] = []
        while try names.step() {
            let name = names.text(0)
            let counted = "FROM delivery d JOIN records r ON r.seq = d.seq WHERE d.backend = ?1 AND d.state = ?2"
            let delivered = Int(try integer("SELECT count(*) \(counted)", [.text(name), .text("delivered")]))
            backends.append(
                Counted.Backend(
                    name: name, undelivered: records - delivered,
                    inFlight: Int(try integer("SELECT count(*) \(counted)", [.text(name), .text("inflight")])),
                    highestDelivered: try integer(
                        "SELECT coalesce(max(d.seq), 0) \(counted)", [.text(name), .text("delivered")])))
        }
        let undelivered = try integer(
            """
            SELECT count(*) FROM records r WHERE (SELECT count(*) FROM delivery d JOIN backends b ON b.name = d.backend
                WHERE d.seq = r.seq AND d.state = 'delivered') < (SELECT count(*) FROM backends)
            """)
        return Counted(
            records: records, bytes: try integer("SELECT coalesce(sum(size), 0) FROM records"),
            lastSequence: try integer("SELECT coalesce(max(last_seq), 0) FROM chain"),
            undelivered: backends.isEmpty ? records : Int(undelivered), backends: backends)
    }

    /// The file's status (from the kept counters) against the full count.
    static func check(_ path: String, _ when: Comment) throws {
        let full = try fullCount(path)
        let kept = try Outbox.status(readingOnly: path)
        #expect(kept.records == full.records, when)
        #expect(kept.bytes == full.bytes, when)
        #expect(kept.lastSequence == full.lastSequence, when)
        #expect(kept.undelivered == full.undelivered, when)
        #expect(kept.backends.map(\.name) == full.backends.map(\.name), when)
        for (mine, theirs) in zip(kept.backends, full.backends) {
            #expect(mine.undelivered == theirs.undelivered, "\(mine.name): \(when)")
            #expect(mine.inFlight == theirs.inFlight, "\(mine.name): \(when)")
            #expect(mine.highestDelivered == theirs.highestDelivered, "\(mine.name): \(when)")
        }
    }

    @Test(
        "the kept counters agree with a full count after appends, deliveries, evictions, a full disk, a power cut, a restart and the migration"
    )
    func countersAgree() throws {
        let scratch = try Scratch()
        let configuration = OutboxConfiguration(maxRecords: 300)
        var outbox: Outbox? = try scratch.open(configuration)
        try outbox!.register(backend: "a")
        try outbox!.register(backend: "b", backlogOrder: .newestFirst)
        for index in stride(from: 0, to: 400, by: 50) {
            _ = try outbox!.append(
                contentsOf: (index..<(index + 50)).map { index in
                    draft(index % 40 == 3 ? .emergency(input: "p") : .position)
                })
            let forA = try outbox!.claimRoutine(for: "a", limit: 30, now: t0).map(\.sequence)
            try outbox!.markDelivered(Array(forA.prefix(25)), backend: "a")
            try outbox!.markFailed(Array(forA.dropFirst(25)), backend: "a")
            try outbox!.markDelivered(try outbox!.claimUrgent(for: "b", limit: 5).map(\.sequence), backend: "b")
            _ = try outbox!.claimRoutine(for: "b", limit: 3, now: t0)
            try Self.check(scratch.path, "after appends, claims and deliveries up to \(index + 50)")
        }
        #expect(try outbox!.status().records == 300, "eviction kept the bound")
        // A full disk mid-transaction: the append is held, the claim refused; neither moves the kept counters.
        let pages = try #require(try SQLiteConnection(path: scratch.path).integer("PRAGMA page_count"))
        try outbox!.setMaxPageCount(Int(pages))
        _ = try outbox!.append(contentsOf: (0..<200).map { _ in draft(.position) })
        try Self.check(scratch.path, "after a transaction the full disk rolled back")
        try outbox!.setMaxPageCount(1 << 30)
        #expect(try outbox!.retryHeld().count == 200)
        try Self.check(scratch.path, "after the held records were committed")
        // A power cut in the middle of a transaction: the files as it leaves them (uncommitted frames spilled into the
        // WAL), copied while a writer is inside it.
        let cut = scratch.directory + "/cut"
        try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: true)
        do {
            let writer = try SQLiteConnection(path: scratch.path)
            try writer.execute("PRAGMA cache_size = 2")
            try writer.execute("BEGIN IMMEDIATE")
            try writer.execute(
                """
                UPDATE tally SET value = value + 1000; DELETE FROM records WHERE seq % 3 = 0;
                UPDATE delivery SET state = 'delivered';
                """)
            for suffix in ["", "-wal"] {
                try FileManager.default.copyItem(atPath: scratch.path + suffix, toPath: cut + "/outbox.db" + suffix)
            }
            try writer.execute("ROLLBACK")
        }
        try Self.check(cut + "/outbox.db", "after a power cut mid-transaction")
        try Self.check(scratch.path, "beside the rolled-back writer")
        // A restart: the records in flight are pending again, and the counters say so.
        outbox = nil
        outbox = try scratch.open(configuration)
        try Self.check(scratch.path, "after a restart")
        #expect(try Outbox.status(readingOnly: scratch.path) == (try outbox!.status()))
        // An outbox written before step 6 gets its counters at its first open.
        outbox = nil
        do {
            let downgrade = try SQLiteConnection(path: scratch.path)
            try downgrade.execute("DROP TABLE tally; PRAGMA user_version = 5;")
        }
        outbox = try scratch.open(configuration)
        try Self.check(scratch.path, "after the migration")
    }

    @Test("the file's status costs a few index seeks whatever the outbox holds; the count it replaced visits every row")
    func statusCostIsFlat() throws {
        let scratch = try Scratch()
        let outbox = try scratch.open()
        try outbox.register(backend: "a")
        for _ in 0..<10 {
            _ = try outbox.append(contentsOf: (0..<200).map { _ in draft(.position) })
            try outbox.markDelivered(
                try outbox.claimRoutine(for: "a", limit: 180, now: t0).map(\.sequence), backend: "a")
        }
        let reader = try Outbox.openReadingOnly(scratch.path)
        _ = reader.takeVMSteps()
        let kept = try Outbox.status(reading: reader)
        let keptSteps = reader.takeVMSteps()
        #expect(keptSteps < 300, "\(keptSteps) steps for the status of 2,000 records")
        // Without the kept counters (a file no build kept them in), the status counts: every delivery row visited.
        try SQLiteConnection(path: scratch.path).execute("DELETE FROM tally")
        let counting = try Outbox.openReadingOnly(scratch.path)
        _ = counting.takeVMSteps()
        let counted = try Outbox.status(reading: counting)
        let countedSteps = counting.takeVMSteps()
        #expect(countedSteps > 10 * keptSteps, "the count took \(countedSteps) steps, the kept counters \(keptSteps)")
        #expect(kept == counted)
    }
}
