import Foundation
import Logging
import PanicCore
import PanicSQLite

extension Outbox {
    // MARK: Appending

    /// Signs and commits one record, returning only after the commit is durable. On a full disk the draft is
    /// held in memory instead (see `AppendOutcome.held`); drafts held earlier are committed first, in order.
    public func append(_ draft: RecordDraft) throws -> AppendOutcome {
        try append(contentsOf: [draft])[0]
    }

    /// Signs and commits several records in one transaction (one fsync).
    public func append(contentsOf drafts: [RecordDraft]) throws -> [AppendOutcome] {
        try state.withLock { state in
            let waiting = state.held
            do {
                let stored = try commit(waiting + drafts, state)
                state.held = []
                if !waiting.isEmpty {
                    logger.notice(
                        "outbox disk space back: held records committed", metadata: ["count": "\(waiting.count)"])
                    state.released += stored.prefix(waiting.count)
                }
                return stored.suffix(drafts.count).map { .stored($0) }
            } catch let error as SQLiteError where error.isFull {
                if state.held.isEmpty {
                    logger.error(
                        "outbox disk full: holding new records in memory until space returns",
                        metadata: ["path": "\(path)", "error": "\(error)"])
                }
                hold(drafts, state)
                return drafts.map { .held(id: $0.id) }
            }
        }
    }

    /// Commits drafts held while the disk was full; returns what was stored (empty if still full).
    @discardableResult
    public func retryHeld() throws -> [StoredRecord] {
        try state.withLock { state in
            guard !state.held.isEmpty else { return [] }
            do {
                let stored = try commit(state.held, state)
                logger.notice("outbox disk space back: held records committed", metadata: ["count": "\(stored.count)"])
                state.held = []
                return stored
            } catch let error as SQLiteError where error.isFull {
                return []
            }
        }
    }

    /// Held drafts that an `append` committed ahead of its own drafts since the last call (`retryHeld()` returns the
    /// ones it commits itself): whoever follows alerts by their sequence learns them here. Taking them empties it.
    public func takeReleased() -> [StoredRecord] {
        state.withLock { state in
            defer { state.released = [] }
            return state.released
        }
    }

    /// Number of drafts waiting in memory for disk space.
    public var heldCount: Int { state.withLock { $0.held.count } }

    private func hold(_ drafts: [RecordDraft], _ state: State) {
        state.held += drafts
        // Alerts are always held; beyond the limit, the oldest held positions go (and are counted).
        var positions = state.held.filter { $0.body.kind.isEvictable }.count
        if positions > configuration.heldPositionLimit {
            state.held.removeAll { draft in
                guard draft.body.kind.isEvictable, positions > configuration.heldPositionLimit else { return false }
                positions -= 1
                state.heldDropped += 1
                return true
            }
        }
    }

    private func commit(_ drafts: [RecordDraft], _ state: State) throws -> [StoredRecord] {
        var sequence = state.lastSequence
        var hash = state.lastHash
        var records = state.records
        var bytes = state.bytes
        var heldDropped = state.heldDropped
        let connection = state.connection
        let stored = try Outbox.countedTransaction(state, totals: { (records, bytes) }) { () throws -> [StoredRecord] in
            var result: [StoredRecord] = []
            let insert = try state.statement(
                "INSERT INTO records(seq, uuid, kind, priority, created_ms, size, envelope) VALUES(?,?,?,?,?,?,?)")
            for var draft in drafts {
                if case .health(var report) = draft.body {
                    let dropped = Int(try connection.text("SELECT value FROM meta WHERE key = 'dropped'") ?? "0") ?? 0
                    let faults = try connection.text("SELECT value FROM meta WHERE key = 'faults'")
                    report.droppedRecords += dropped + heldDropped
                    if let faults { report.faults += faults.split(separator: ",").map(String.init) }
                    if state.held.count > 0 { report.faults.append("disk-full") }
                    if state.markOwed { report.faults.append(Outbox.markUnwritableFault) }
                    heldDropped = 0
                    try connection.execute("DELETE FROM meta WHERE key IN ('dropped', 'faults')")
                    draft.body = .health(report)
                }
                sequence += 1
                let record = Record(device: sealer.deviceID, sequence: sequence, previousHash: hash, draft: draft)
                let sealed = try sealer.seal(record)
                let size = Int64(sealed.envelope.utf8.count)
                try insert.bind([
                    .integer(sequence), .text(draft.id), .text(record.kind.rawValue),
                    .integer(Outbox.priority(of: record.kind)), .integer(draft.time.epochMilliseconds), .integer(size),
                    .text(sealed.envelope),
                ]).run()
                // Every registered backend lacks it: the claims find it in `pending`.
                try state.statement(
                    "INSERT INTO pending(backend, priority, seq, created_ms) SELECT name, ?1, ?2, ?3 FROM backends"
                ).bind([
                    .integer(Outbox.priority(of: record.kind)), .integer(sequence),
                    .integer(draft.time.epochMilliseconds),
                ]).run()
                hash = sealed.hash
                records += 1
                bytes += size
                result.append(
                    StoredRecord(sequence: sequence, kind: record.kind, time: draft.time, envelope: sealed.envelope))
            }
            try state.statement(
                """
                INSERT INTO chain(device, last_seq, last_hash) VALUES(?1, ?2, ?3)
                ON CONFLICT(device) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash
                """
            ).bind([.text(sealer.deviceID), .integer(sequence), hash.map { .text($0) } ?? .null]).run()
            if records > configuration.maxRecords || bytes > configuration.maxBytes {
                (records, bytes) = try evict(records: records, bytes: bytes, state)
            }
            return result
        }
        // Only now, after COMMIT returned, does the in-memory chain move on.
        state.lastSequence = sequence
        state.lastHash = hash
        state.records = records
        state.bytes = bytes
        state.heldDropped = heldDropped
        advanceMark(state)
        return stored
    }

    /// Deletes delivered records (oldest first), then the oldest undelivered positions, until within bounds.
    /// Runs inside the append's transaction. Alerts and other non-position records are never dropped
    /// undelivered: when only they remain, the outbox grows past its bound (and says so in the log).
    private func evict(records: Int, bytes: Int64, _ state: State) throws -> (Int, Int64) {
        var records = records
        var bytes = bytes
        let connection = state.connection
        // Delivered to every backend: `delivered_count` says so (no backends: nothing counts as delivered).
        let delivered = try state.statement(
            """
            SELECT seq, size, delivered_count FROM records WHERE ?2 > 0 AND delivered_count >= ?2
            ORDER BY seq LIMIT ?1
            """)
        let positions = try state.statement(
            "SELECT seq, size, delivered_count FROM records WHERE kind = 'position' ORDER BY seq LIMIT ?1")
        let deleteRecord = try state.statement("DELETE FROM records WHERE seq = ?1")
        var dropped = 0
        for (query, counts) in [(delivered, false), (positions, true)] {
            while records > configuration.maxRecords || bytes > configuration.maxBytes {
                let excess = max(records - configuration.maxRecords, 1)
                let limit = SQLiteValue.integer(Int64(min(excess, 256)))
                try query.bind(counts ? [limit] : [limit, .integer(Int64(state.backends.count))])
                var victims: [(Int64, Int64, Int64)] = []
                while try query.step() { victims.append((query.integer(0), query.integer(1), query.integer(2))) }
                query.reset()
                guard !victims.isEmpty else { break }
                for (seq, size, deliveredCount) in victims {
                    guard records > configuration.maxRecords || bytes > configuration.maxBytes else { break }
                    // Per backend, by primary key: the delivery table has no index on `seq` alone.
                    try Outbox.uncount(state, sequence: seq, deliveredCount: deliveredCount)
                    try deleteRecord.bind([.integer(seq)]).run()
                    records -= 1
                    bytes -= size
                    if counts { dropped += 1 }
                }
            }
        }
        if dropped > 0 {
            try state.statement(
                """
                INSERT INTO meta(key, value) VALUES('dropped', ?1)
                ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)
                """
            ).bind([.text(String(dropped))]).run()
            logger.warning("outbox full: dropped oldest undelivered positions", metadata: ["count": "\(dropped)"])
        }
        if records > configuration.maxRecords || bytes > configuration.maxBytes {
            logger.warning(
                "outbox over its bound with undelivered alerts only; keeping them",
                metadata: ["records": "\(records)", "bytes": "\(bytes)"])
        }
        _ = connection
        return (records, bytes)
    }
}
