import PanicCore
import PanicSQLite

/// Delivery: each backend's state per record (pending, in flight, delivered) and the two lanes' claims.
///
/// A backend drains through two lanes that never share a record: the alert lane claims only urgent records
/// (`RecordKind.isUrgent`: alerts and their clears), the backlog lane everything else. A backlog batch therefore
/// never carries a fresh alert while the alert lane finds nothing: an alert always travels alone and at once.
/// Each claim reads and marks in one `BEGIN IMMEDIATE` transaction under the outbox's lock, so no record is
/// claimed twice.
extension Outbox {
    /// The `priority` column of a record of `kind`: 0 for the alert lane, 1 for the backlog lane.
    static func priority(of kind: RecordKind) -> Int64 { kind.isUrgent ? 0 : 1 }

    /// Registers a backend (idempotent; the order can be changed). A new backend gets every stored record.
    public func register(backend name: String, backlogOrder: BacklogOrder = .oldestFirst) throws {
        try state.withLock { state in
            // Already registered so: nothing to write (a box restarting on a full card must not fail here, or its
            // uplink would stop before the held press could ever go out).
            if state.backends[name] == backlogOrder { return }
            let known = state.backends[name] != nil
            let previous = state.backends[name]
            do {
                try Outbox.countedTransaction(state) {
                    try state.statement(
                        """
                        INSERT INTO backends(name, backlog_order) VALUES(?1, ?2)
                        ON CONFLICT(name) DO UPDATE SET backlog_order = excluded.backlog_order
                        """
                    ).bind([.text(name), .text(backlogOrder.rawValue)]).run()
                    // A new backend lacks every stored record (but any it already has a delivery row for).
                    if !known {
                        try state.statement(
                            """
                            INSERT OR IGNORE INTO pending(backend, priority, seq, created_ms)
                            SELECT ?1, r.priority, r.seq, r.created_ms FROM records r WHERE NOT EXISTS (
                                SELECT 1 FROM delivery d WHERE d.backend = ?1 AND d.seq = r.seq AND d.state != 'pending')
                            """
                        ).bind([.text(name)]).run()
                    }
                    state.backends[name] = backlogOrder
                    if !known { try Outbox.loadCounters(state) }
                }
            } catch {
                state.backends[name] = previous
                throw error
            }
        }
    }

    /// The alert lane's claim: up to `limit` urgent records not yet delivered to `backend` (nor in flight), oldest
    /// first, marked in flight.
    public func claimUrgent(for backend: String, limit: Int) throws -> [StoredRecord] {
        try claim(.urgent, for: backend, limit: limit)
    }

    /// The backlog lane's claim: up to `limit` other records not yet delivered to `backend` (nor in flight), marked
    /// in flight: live ones (newer than the live window before `now`) newest first, then the backlog in the
    /// backend's order.
    public func claimRoutine(for backend: String, limit: Int, now: RecordTime) throws -> [StoredRecord] {
        try claim(
            .routine(cutoff: now.epochMilliseconds - configuration.liveWindowMilliseconds), for: backend, limit: limit)
    }

    private enum Lane {
        case urgent
        /// Records created at or after `cutoff` (epoch milliseconds) are live.
        case routine(cutoff: Int64)
    }

    /// Reads a batch for `lane` and marks it in flight for `backend`, in one transaction.
    private func claim(_ lane: Lane, for backend: String, limit: Int) throws -> [StoredRecord] {
        try state.withLock { state in
            guard let order = state.backends[backend] else { throw OutboxError.unknownBackend(backend) }
            if state.inFlightResetOwed {
                state.inFlightResetOwed = try Outbox.resetInFlight(state.connection, logger: logger)
                if !state.inFlightResetOwed { try Outbox.loadCounters(state) }
            }
            // Not durable: a claim lost in a power cut leaves its records pending, so they are claimed again.
            return try Outbox.countedTransaction(state, durable: false) {
                var batch: [StoredRecord]
                switch lane {
                case .urgent:
                    batch = try Outbox.pending(state, .urgent, backend: backend, limit: limit, cutoff: 0)
                case .routine(let cutoff):
                    batch = try Outbox.pending(
                        state, Outbox.liveQuery(state, backend: backend, limit: limit, cutoff: cutoff),
                        backend: backend, limit: limit, cutoff: cutoff)
                    if batch.count < limit {
                        batch += try Outbox.pending(
                            state, order == .oldestFirst ? .backlogOldestFirst : .backlogNewestFirst,
                            backend: backend, limit: limit - batch.count, cutoff: cutoff)
                    }
                }
                try Outbox.transition(state, batch.map(\.sequence), backend: backend, to: .inflight)
                return batch
            }
        }
    }

    /// The claims' reads of the `pending` table (what a backend still lacks, per lane): each walks an index from where
    /// its first record is and stops after `limit`, so its cost is the batch's, whatever was delivered before it.
    enum PendingQuery {
        /// The alert lane: oldest first.
        case urgent
        /// Live records newest first, found by time: for a few live records among many pending ones.
        case liveByTime
        /// Live records newest first, by sequence: when at least `liveScanFactor` batches' worth are live.
        case liveBySequence
        /// The backlog (older than the live window), oldest or newest first.
        case backlogOldestFirst
        case backlogNewestFirst

        var sql: String {
            // `CROSS JOIN` keeps `pending` the outer loop; `+p.created_ms` keeps the time index out of the sequence
            // walks, and `INDEXED BY` in the one walk by time.
            let select = "SELECT r.seq, r.kind, r.created_ms, r.envelope FROM pending p"
            let join = "CROSS JOIN records r ON r.seq = p.seq WHERE p.backend = ?1"
            return switch self {
            case .urgent: "\(select) \(join) AND p.priority = 0 ORDER BY p.seq ASC LIMIT ?2"
            case .liveByTime:
                "\(select) INDEXED BY pending_by_time \(join) AND p.priority = 1 AND p.created_ms >= ?3 "
                    + "ORDER BY p.seq DESC LIMIT ?2"
            case .liveBySequence:
                "\(select) \(join) AND p.priority = 1 AND +p.created_ms >= ?3 ORDER BY p.seq DESC LIMIT ?2"
            case .backlogOldestFirst:
                "\(select) \(join) AND p.priority = 1 AND +p.created_ms < ?3 ORDER BY p.seq ASC LIMIT ?2"
            case .backlogNewestFirst:
                "\(select) \(join) AND p.priority = 1 AND +p.created_ms < ?3 ORDER BY p.seq DESC LIMIT ?2"
            }
        }
    }

    /// Batches' worth of live records above which the live query walks by sequence instead of by time.
    static let liveScanFactor = 4

    /// Which walk finds `backend`'s live records cheapest: by time when they are few (a box on the road: the last two
    /// minutes' positions, however long the backlog behind them), by sequence when many are live (a backlog stored
    /// just now), where the newest sequence numbers are the live ones and the walk stops after `limit`. Either
    /// way the same records in the same order; this only bounds the work (a count stopped at a few batches).
    static func liveQuery(_ state: State, backend: String, limit: Int, cutoff: Int64) throws -> PendingQuery {
        let bound = Int64(limit * liveScanFactor)
        let live = try state.statement(
            """
            SELECT count(*) FROM (SELECT 1 FROM pending INDEXED BY pending_by_time
                WHERE backend = ?1 AND priority = 1 AND created_ms >= ?3 LIMIT ?2)
            """
        ).bind([.text(backend), .integer(bound), .integer(cutoff)]).stepInteger()
        return live < bound ? .liveByTime : .liveBySequence
    }

    /// Up to `limit` records of `query` that `backend` lacks (never claimed, or pending again).
    private static func pending(
        _ state: State, _ query: PendingQuery, backend: String, limit: Int, cutoff: Int64
    ) throws -> [StoredRecord] {
        let statement = try state.statement(query.sql)
        let time: [SQLiteValue] = if case .urgent = query { [] } else { [.integer(cutoff)] }
        try statement.bind([.text(backend), .integer(Int64(limit))] + time)
        defer { statement.reset() }
        var batch: [StoredRecord] = []
        batch.reserveCapacity(limit)
        while try statement.step() {
            batch.append(
                StoredRecord(
                    sequence: statement.integer(0), kind: RecordKind(rawValue: statement.text(1)) ?? .position,
                    time: RecordTime(epochMilliseconds: statement.integer(2)), envelope: statement.text(3)))
        }
        return batch
    }

    /// Marks records delivered to `backend` (the receiver confirmed them).
    public func markDelivered(_ sequences: [Int64], backend: String) throws {
        try update(sequences, backend: backend, to: .delivered)
    }

    /// Marks records failed for `backend`: pending again, so the next claim of their lane takes them (the uplink's
    /// delivery state machine decides when that is).
    public func markFailed(_ sequences: [Int64], backend: String) throws {
        try update(sequences, backend: backend, to: .pending)
    }

    private func update(_ sequences: [Int64], backend: String, to after: DeliveryState) throws {
        try state.withLock { state in
            guard state.backends[backend] != nil else { throw OutboxError.unknownBackend(backend) }
            // Not durable: a confirmation or failure lost in a power cut leaves its records in flight, pending again
            // at the next open, so they are sent again (the receiver keeps each record once). What the box shows
            // never reads this state back: "sent" is the receiver's answer, and an alert's recorded state is durable.
            try Outbox.countedTransaction(state, durable: false) {
                try Outbox.transition(state, sequences, backend: backend, to: after)
            }
        }
    }

    /// Moves `sequences` to `after` for `backend` inside the caller's transaction, a batch at a time: one statement
    /// reads the rows as they are, `DeliveryTransition` decides, and one statement per table writes each consequence
    /// (the batch's numbers passed as one JSON array), however many records the batch holds.
    static func transition(_ state: State, _ sequences: [Int64], backend: String, to after: DeliveryState) throws {
        guard !sequences.isEmpty else { return }
        let read = try state.statement(
            """
            SELECT r.seq, d.state, r.delivered_count FROM json_each(?2) j CROSS JOIN records r ON r.seq = j.value
            LEFT JOIN delivery d ON d.backend = ?1 AND d.seq = r.seq
            """)
        try read.bind([.text(backend), .text(DeliveryTransition.list(sequences))])
        var rows: [DeliveryTransition.Row] = []
        rows.reserveCapacity(sequences.count)
        do {
            defer { read.reset() }
            while try read.step() {
                rows.append(
                    DeliveryTransition.Row(
                        sequence: read.integer(0), state: read.isNull(1) ? nil : DeliveryState(rawValue: read.text(1)),
                        deliveredCount: read.integer(2)))
            }
        }
        let plan = DeliveryTransition(sequences: sequences, rows: rows, to: after, backends: state.backends.count)
        guard !plan.sequences.isEmpty else { return }
        let name = SQLiteValue.text(backend)
        // Every record of the batch gets its row (a claim counts an attempt, a failure is due at once).
        let upsert =
            switch after {
            case .inflight: "state = 'inflight', attempts = attempts + 1"
            case .delivered: "state = 'delivered'"
            case .pending: "state = 'pending', next_attempt_ms = 0"
            }
        try state.statement(
            """
            INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms)
            SELECT ?1, value, '\(after.rawValue)', 1, 0 FROM json_each(?2) WHERE true
            ON CONFLICT(backend, seq) DO UPDATE SET \(upsert)
            """
        ).bind([name, .text(DeliveryTransition.list(plan.sequences))]).run()
        // What the backend lacks (no delivery row, or pending again) is what the claims read from `pending`.
        if !plan.leavePending.isEmpty {
            try state.statement(
                """
                DELETE FROM pending WHERE backend = ?1 AND priority IN (0, 1)
                AND seq IN (SELECT value FROM json_each(?2))
                """
            ).bind([name, .text(DeliveryTransition.list(plan.leavePending))]).run()
        }
        if !plan.enterPending.isEmpty {
            try state.statement(
                """
                INSERT OR IGNORE INTO pending(backend, priority, seq, created_ms)
                SELECT ?1, priority, seq, created_ms FROM records WHERE seq IN (SELECT value FROM json_each(?2))
                """
            ).bind([name, .text(DeliveryTransition.list(plan.enterPending))]).run()
        }
        for (step, changed) in [(1, plan.gained), (-1, plan.lost)] where !changed.isEmpty {
            try state.statement(
                """
                UPDATE records SET delivered_count = delivered_count + ?2
                WHERE seq IN (SELECT value FROM json_each(?1))
                """
            ).bind([.text(DeliveryTransition.list(changed)), .integer(Int64(step))]).run()
        }
        state.counters[backend] = plan.applied(to: state.counters[backend] ?? BackendCounters())
        state.deliveredToAll += plan.deliveredToAllChange
    }

    /// Attempts made so far to deliver record `sequence` to `backend` (0 when never claimed).
    public func attempts(_ sequence: Int64, backend: String) throws -> Int {
        try state.withLock { state in
            let query = try state.statement("SELECT attempts FROM delivery WHERE backend = ?1 AND seq = ?2")
            try query.bind([.text(backend), .integer(sequence)])
            defer { query.reset() }
            return try query.step() ? Int(query.integer(0)) : 0
        }
    }
}
