import PanicCore
import PanicStore
import Synchronization

/// Claims only urgent records (emergency, tamper, help, cleared) for a backend's alert lane.
///
/// `Outbox.claimBatch` drains alerts first but then goes on to positions; the alert lane must never carry
/// those, or a fresh alert would queue behind them. This reads the outbox's delivery table through a second
/// SQLite connection to the same WAL database; SQLite serializes the two connections' write transactions, and
/// each claim checks and sets the delivery state inside its own transaction, so no record is claimed twice.
/// It depends on the outbox schema version 1 (tables `records` and `delivery`).
final class UrgentClaims: Sendable {
    private final class State {
        let connection: SQLiteConnection
        let claim: SQLiteStatement
        let select: SQLiteStatement

        init(path: String) throws {
            connection = try SQLiteConnection(path: path, create: false)
            try connection.execute("PRAGMA synchronous = FULL")
            select = try connection.prepare(
                """
                SELECT r.seq, r.kind, r.created_ms, r.envelope FROM records r
                LEFT JOIN delivery d ON d.backend = ?1 AND d.seq = r.seq
                WHERE r.kind IN ('emergency', 'tamper', 'help', 'cleared')
                AND (d.state IS NULL OR d.state = 'pending')
                ORDER BY r.seq LIMIT ?2
                """)
            claim = try connection.prepare(
                """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'inflight', 1, 0)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'inflight', attempts = attempts + 1
                """)
        }
    }

    // The connection is used only inside `state.withLock`.
    private let state: Mutex<State>

    init(path: String) throws { state = Mutex(try State(path: path)) }

    /// Claims up to `limit` urgent records not yet delivered to `backend`, oldest first, marking them in flight.
    func claim(for backend: String, limit: Int) throws -> [ClaimedRecord] {
        try state.withLock { state in
            try state.connection.transaction {
                try state.select.bind([.text(backend), .integer(Int64(limit))])
                var batch: [ClaimedRecord] = []
                while try state.select.step() {
                    batch.append(
                        ClaimedRecord(
                            sequence: state.select.integer(0),
                            kind: RecordKind(rawValue: state.select.text(1)) ?? .emergency,
                            envelope: state.select.text(3)))
                }
                state.select.reset()
                for record in batch { try state.claim.bind([.text(backend), .integer(record.sequence)]).run() }
                return batch
            }
        }
    }
}

/// A record claimed for one request.
struct ClaimedRecord: Sendable, Hashable {
    var sequence: Int64
    var kind: RecordKind
    var envelope: String

    init(sequence: Int64, kind: RecordKind, envelope: String) {
        self.sequence = sequence
        self.kind = kind
        self.envelope = envelope
    }

    init(_ stored: StoredRecord) {
        self.init(sequence: stored.sequence, kind: stored.kind, envelope: stored.envelope)
    }
}
