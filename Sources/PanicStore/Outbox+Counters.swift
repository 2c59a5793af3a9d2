import PanicSQLite

/// The figures `status()` and every health record report, kept as counters instead of counted by a query over the
/// outbox: each record carries `delivered_count` (how many backends have it, indexed), each backend its delivered and
/// in-flight counts and its cursor. They are counted once when the outbox opens (linear) and moved by every claim,
/// mark (`DeliveryTransition`, a few statements per batch) and eviction (a few point lookups each), so a status costs
/// the same at 50,000 records as at 10 and holds the outbox's lock for microseconds.
struct BackendCounters: Sendable, Hashable {
    /// Records of the outbox this backend has.
    var delivered = 0
    /// Records sent to it and not confirmed.
    var inFlight = 0
    /// Highest sequence number delivered to it.
    var highestDelivered: Int64 = 0
}

extension Outbox {
    /// Counts the counters from the tables (at open, and when a backend is registered).
    static func loadCounters(_ state: State) throws {
        let counted = try countDeliveries(state.connection, backends: Array(state.backends.keys))
        state.counters = counted.counters
        state.deliveredToAll = counted.deliveredToAll
    }

    /// The counters of `backends` and the number of records every one of them has, counted from the tables: one
    /// grouped pass over the delivery table and one index range on `delivered_count` (linear, never quadratic).
    /// Shared by the open outbox and the read-only `status(readingOnly:)`.
    static func countDeliveries(
        _ connection: SQLiteConnection, backends: [String]
    ) throws -> (counters: [String: BackendCounters], deliveredToAll: Int) {
        var counters: [String: BackendCounters] = [:]
        for name in backends { counters[name] = BackendCounters() }
        let query = try connection.statement(
            """
            SELECT d.backend, d.state, count(*), max(d.seq) FROM delivery d JOIN records r ON r.seq = d.seq
            GROUP BY d.backend, d.state
            """)
        defer { query.reset() }
        while try query.step() {
            let name = query.text(0)
            var counter = counters[name] ?? BackendCounters()
            switch query.text(1) {
            case "delivered":
                counter.delivered = Int(query.integer(2))
                counter.highestDelivered = query.integer(3)
            case "inflight": counter.inFlight = Int(query.integer(2))
            default: break
            }
            counters[name] = counter
        }
        guard !backends.isEmpty else { return (counters, 0) }
        let all = try connection.statement("SELECT count(*) FROM records WHERE delivered_count >= ?1")
            .bind([.integer(Int64(backends.count))]).stepInteger()
        return (counters, Int(all))
    }

    /// Runs `body` in a transaction that also writes the counters it moved into `tally` (with `totals`, the record
    /// count and bytes the transaction leaves; by default the state's); they all go back with a rollback.
    /// `durable: false` commits without waiting for the disk, for delivery transitions only (`Outbox+Durability`).
    static func countedTransaction<T>(
        _ state: State, durable: Bool = true, totals: (() -> (records: Int, bytes: Int64))? = nil,
        _ body: () throws -> T
    ) throws -> T {
        if durable { try restoreDurability(state) } else { try relaxDurability(state) }
        // Set back at once; should that fail, the next durable commit sets it back before it runs.
        defer { if !durable { try? restoreDurability(state) } }
        let saved = (state.counters, state.deliveredToAll, state.savedTallies)
        do {
            return try state.connection.transaction {
                let result = try body()
                let (records, bytes) = totals?() ?? (state.records, state.bytes)
                try saveTallies(state, records: records, bytes: bytes)
                return result
            }
        } catch {
            (state.counters, state.deliveredToAll, state.savedTallies) = saved
            throw error
        }
    }

    /// The delivery state of record `sequence` for `backend` (nil when never claimed).
    static func deliveryState(_ state: State, backend: String, sequence: Int64) throws -> String? {
        let query = try state.statement("SELECT state FROM delivery WHERE backend = ?1 AND seq = ?2")
        try query.bind([.text(backend), .integer(sequence)])
        defer { query.reset() }
        return try query.step() ? query.text(0) : nil
    }

    /// Forgets record `sequence` (evicted) in the counters, before its rows are deleted.
    static func uncount(_ state: State, sequence: Int64, deliveredCount: Int64) throws {
        for name in state.backends.keys {
            switch try deliveryState(state, backend: name, sequence: sequence) {
            case "delivered": state.counters[name]?.delivered -= 1
            case "inflight": state.counters[name]?.inFlight -= 1
            default: break
            }
            try state.statement("DELETE FROM delivery WHERE backend = ?1 AND seq = ?2")
                .bind([.text(name), .integer(sequence)]).run()
            try state.statement("DELETE FROM pending WHERE backend = ?1 AND priority IN (0, 1) AND seq = ?2")
                .bind([.text(name), .integer(sequence)]).run()
        }
        if !state.backends.isEmpty, deliveredCount >= Int64(state.backends.count) { state.deliveredToAll -= 1 }
    }

    /// The oldest creation time among records some backend lacks: one index seek per possible `delivered_count`.
    static func oldestUndelivered(_ connection: SQLiteConnection, backends: Int) throws -> Int64? {
        let query = try connection.statement("SELECT min(created_ms) FROM records WHERE delivered_count = ?1")
        var oldest: Int64?
        for count in 0..<max(backends, 1) {
            try query.bind([.integer(Int64(count))])
            if try query.step(), !query.isNull(0) { oldest = min(oldest ?? .max, query.integer(0)) }
            query.reset()
        }
        return oldest
    }
}

extension SQLiteStatement {
    /// Steps once and returns the first column as an integer (0 when there is no row).
    func stepInteger() throws(SQLiteError) -> Int64 {
        defer { reset() }
        return try step() ? integer(0) : 0
    }
}
