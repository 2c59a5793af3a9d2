import PanicCore
import PanicSQLite
import PanicStore
import Synchronization

/// Claims records for a backend's two lanes, which never share a record: the alert lane takes only urgent
/// records (emergency, tamper, help, cleared), the backlog lane everything else.
///
/// `Outbox.claimBatch` drains alerts first and then goes on to positions, so a backlog batch could carry a fresh
/// alert while the alert lane found nothing; with disjoint lanes an alert always travels alone and at once.
/// This reads the outbox's delivery table through a second SQLite connection to the same WAL database; SQLite
/// serializes the two connections' write transactions, and each claim checks and sets the delivery state inside
/// its own `BEGIN IMMEDIATE` transaction, so no record is claimed twice. It depends on the outbox schema
/// version 1 (tables `records` and `delivery`) and follows `claimBatch`'s order for the backlog: live records
/// newest first, then the backlog in the backend's order.
final class LaneClaims: Sendable {
    static let urgentKinds = "('emergency', 'tamper', 'help', 'cleared')"

    private final class State {
        let connection: SQLiteConnection
        let claim: SQLiteStatement
        let urgent: SQLiteStatement
        let live: SQLiteStatement
        let oldestFirst: SQLiteStatement
        let newestFirst: SQLiteStatement

        init(path: String) throws {
            let connection = try SQLiteConnection(path: path, create: false)
            try connection.execute("PRAGMA synchronous = FULL")
            func select(_ condition: String, _ direction: String) throws -> SQLiteStatement {
                try connection.prepare(
                    """
                    SELECT r.seq, r.kind, r.envelope FROM records r
                    LEFT JOIN delivery d ON d.backend = ?1 AND d.seq = r.seq
                    WHERE \(condition) AND (d.state IS NULL OR d.state = 'pending')
                    ORDER BY r.seq \(direction) LIMIT ?2
                    """)
            }
            urgent = try select("r.kind IN \(LaneClaims.urgentKinds)", "ASC")
            live = try select("r.kind NOT IN \(LaneClaims.urgentKinds) AND r.created_ms >= ?3", "DESC")
            oldestFirst = try select("r.kind NOT IN \(LaneClaims.urgentKinds) AND r.created_ms < ?3", "ASC")
            newestFirst = try select("r.kind NOT IN \(LaneClaims.urgentKinds) AND r.created_ms < ?3", "DESC")
            self.connection = connection
            claim = try connection.prepare(
                """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'inflight', 1, 0)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'inflight', attempts = attempts + 1
                """)
        }
    }

    // The connection is used only inside `state.withLock`.
    private let state: Mutex<State>
    private let liveWindowMilliseconds: Int64

    init(path: String, liveWindowMilliseconds: Int64) throws {
        state = Mutex(try State(path: path))
        self.liveWindowMilliseconds = liveWindowMilliseconds
    }

    /// Claims up to `limit` urgent records not yet delivered to `backend`, oldest first, marking them in flight.
    func claimUrgent(for backend: String, limit: Int) throws -> [ClaimedRecord] {
        try state.withLock { state in
            try state.connection.transaction {
                let batch = try Self.read(state.urgent, [.text(backend), .integer(Int64(limit))])
                for record in batch { try state.claim.bind([.text(backend), .integer(record.sequence)]).run() }
                return batch
            }
        }
    }

    /// Claims up to `limit` other records: live ones (newer than the outbox's live window before `now`) newest
    /// first, then the backlog in `order`.
    func claimRoutine(
        for backend: String, limit: Int, now: RecordTime, order: BacklogOrder
    ) throws
        -> [ClaimedRecord]
    {
        let cutoff = now.epochMilliseconds - liveWindowMilliseconds
        return try state.withLock { state in
            try state.connection.transaction {
                var batch = try Self.read(state.live, [.text(backend), .integer(Int64(limit)), .integer(cutoff)])
                if batch.count < limit {
                    let backlog = order == .oldestFirst ? state.oldestFirst : state.newestFirst
                    batch += try Self.read(
                        backlog, [.text(backend), .integer(Int64(limit - batch.count)), .integer(cutoff)])
                }
                for record in batch { try state.claim.bind([.text(backend), .integer(record.sequence)]).run() }
                return batch
            }
        }
    }

    private static func read(_ statement: SQLiteStatement, _ values: [SQLiteValue]) throws -> [ClaimedRecord] {
        try statement.bind(values)
        defer { statement.reset() }
        var batch: [ClaimedRecord] = []
        while try statement.step() {
            batch.append(
                ClaimedRecord(
                    sequence: statement.integer(0), kind: RecordKind(rawValue: statement.text(1)) ?? .position,
                    envelope: statement.text(2)))
        }
        return batch
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
}
