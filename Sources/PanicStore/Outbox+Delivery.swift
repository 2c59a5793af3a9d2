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
            try state.statement(
                """
                INSERT INTO backends(name, backlog_order) VALUES(?1, ?2)
                ON CONFLICT(name) DO UPDATE SET backlog_order = excluded.backlog_order
                """
            ).bind([.text(name), .text(backlogOrder.rawValue)]).run()
            let known = state.backends[name] != nil
            state.backends[name] = backlogOrder
            if !known { try Outbox.loadCounters(state) }
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
            return try Outbox.countedTransaction(state) {
                var batch: [StoredRecord]
                switch lane {
                case .urgent:
                    batch = try Outbox.pending(
                        state, "r.priority = 0", "ASC", backend: backend, limit: limit, cutoff: nil)
                case .routine(let cutoff):
                    batch = try Outbox.pending(
                        state, "r.priority = 1 AND r.created_ms >= ?3", "DESC", backend: backend, limit: limit,
                        cutoff: cutoff)
                    if batch.count < limit {
                        batch += try Outbox.pending(
                            state, "r.priority = 1 AND r.created_ms < ?3", order == .oldestFirst ? "ASC" : "DESC",
                            backend: backend, limit: limit - batch.count, cutoff: cutoff)
                    }
                }
                let mark = try state.statement(
                    """
                    INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'inflight', 1, 0)
                    ON CONFLICT(backend, seq) DO UPDATE SET state = 'inflight', attempts = attempts + 1
                    """)
                for record in batch {
                    let before = try Outbox.deliveryState(state, backend: backend, sequence: record.sequence)
                    try mark.bind([.text(backend), .integer(record.sequence)]).run()
                    try Outbox.count(state, backend: backend, sequence: record.sequence, from: before, to: "inflight")
                }
                return batch
            }
        }
    }

    /// Records matching `condition` that `backend` has not had (never claimed, or pending again), by sequence
    /// number in `direction`.
    private static func pending(
        _ state: State, _ condition: String, _ direction: String, backend: String, limit: Int, cutoff: Int64?
    ) throws -> [StoredRecord] {
        let query = try state.statement(
            """
            SELECT r.seq, r.kind, r.created_ms, r.envelope FROM records r
            LEFT JOIN delivery d ON d.backend = ?1 AND d.seq = r.seq
            WHERE \(condition) AND (d.state IS NULL OR d.state = 'pending')
            ORDER BY r.seq \(direction) LIMIT ?2
            """)
        try query.bind([.text(backend), .integer(Int64(limit))] + (cutoff.map { [.integer($0)] } ?? []))
        defer { query.reset() }
        var batch: [StoredRecord] = []
        while try query.step() {
            batch.append(
                StoredRecord(
                    sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .position,
                    time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
        }
        return batch
    }

    /// Marks records delivered to `backend` (the receiver confirmed them).
    public func markDelivered(_ sequences: [Int64], backend: String) throws {
        try update(
            sequences, backend: backend, to: "delivered",
            sql: """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'delivered', 1, 0)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'delivered'
                """)
    }

    /// Marks records failed for `backend`: pending again, so the next claim of their lane takes them (the uplink's
    /// delivery state machine decides when that is).
    public func markFailed(_ sequences: [Int64], backend: String) throws {
        try update(
            sequences, backend: backend, to: "pending",
            sql: """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'pending', 1, 0)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'pending', next_attempt_ms = 0
                """)
    }

    private func update(_ sequences: [Int64], backend: String, to after: String, sql: String) throws {
        try state.withLock { state in
            guard state.backends[backend] != nil else { throw OutboxError.unknownBackend(backend) }
            try Outbox.countedTransaction(state) {
                let statement = try state.statement(sql)
                for sequence in sequences {
                    let before = try Outbox.deliveryState(state, backend: backend, sequence: sequence)
                    try statement.bind([.text(backend), .integer(sequence)]).run()
                    try Outbox.count(state, backend: backend, sequence: sequence, from: before, to: after)
                }
            }
        }
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
