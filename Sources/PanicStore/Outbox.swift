import Foundation
import Logging
import PanicCore
import PanicSQLite
import Synchronization

/// How a backend drains records that are neither alerts nor live: oldest first (a complete track in order)
/// or newest first (the freshest picture first).
public enum BacklogOrder: String, Sendable, CaseIterable {
    case oldestFirst = "oldest-first"
    case newestFirst = "newest-first"
}

/// Limits and policies of an outbox.
public struct OutboxConfiguration: Sendable {
    /// Most records kept (delivered or not). Default 50,000: above AIS-140's 40,000-position minimum.
    public var maxRecords: Int
    /// Most envelope bytes kept. Default 64 MiB (a position envelope is about 700 bytes).
    public var maxBytes: Int64
    /// Non-alert records newer than this (relative to the `now` a backend passes) drain as "live", before
    /// the backlog. Default 2 minutes.
    public var liveWindowMilliseconds: Int64
    /// Most positions held in memory while the disk is full (alerts are always held). Default 1,000.
    public var heldPositionLimit: Int
    /// SQLite `max_page_count`, to simulate a full disk in tests; nil leaves SQLite's default.
    public var maxPageCount: Int?

    public init(
        maxRecords: Int = 50_000, maxBytes: Int64 = 64 << 20, liveWindowMilliseconds: Int64 = 120_000,
        heldPositionLimit: Int = 1000, maxPageCount: Int? = nil
    ) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        self.liveWindowMilliseconds = liveWindowMilliseconds
        self.heldPositionLimit = heldPositionLimit
        self.maxPageCount = maxPageCount
    }
}

/// A committed record as the outbox keeps it.
public struct StoredRecord: Sendable, Hashable {
    /// The record's sequence number.
    public var sequence: Int64
    /// Its kind.
    public var kind: RecordKind
    /// Its wall-clock time.
    public var time: RecordTime
    /// The signed envelope (compact JWS), exactly as stored and sent.
    public var envelope: String
}

/// What `append` did with a draft.
public enum AppendOutcome: Sendable, Hashable {
    /// Signed and durably committed: safe to tell the person "stored" and to send.
    case stored(StoredRecord)
    /// The disk is full: the draft waits in memory (in order) and is committed by a later append or
    /// `retryHeld()`. Nothing is lost unless the process dies before space returns.
    case held(id: String)
}

/// Delivery counts for one backend.
public struct BackendStatus: Sendable, Hashable {
    public var name: String
    public var backlogOrder: BacklogOrder
    /// Records this backend has not had yet (pending or in flight).
    public var undelivered: Int
    /// Records sent and not yet confirmed.
    public var inFlight: Int
    /// Highest sequence number delivered (its "cursor"), 0 when none.
    public var highestDelivered: Int64
}

/// The outbox's state, for health records and `panicd outbox status`.
public struct OutboxStatus: Sendable, Hashable {
    public var records: Int
    public var bytes: Int64
    public var lastSequence: Int64
    /// Records not yet delivered to every backend.
    public var undelivered: Int
    /// Time of the oldest undelivered record.
    public var oldestUndelivered: RecordTime?
    /// Drafts waiting in memory for disk space.
    public var held: Int
    /// Records dropped since the last health record.
    public var droppedUnreported: Int
    /// Faults since the last health record.
    public var faults: [String]
    public var backends: [BackendStatus]
}

/// Errors of the outbox that are not plain SQLite errors.
public enum OutboxError: Error, Equatable, CustomStringConvertible {
    /// The database holds another device's stream.
    case otherDevice(path: String, stored: String, signer: String)
    /// The backend was never registered.
    case unknownBackend(String)
    /// Moving a corrupt database aside failed.
    case moveAsideFailed(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .otherDevice(let path, let stored, let signer):
            "\(path): outbox belongs to device \(stored), but the key is device \(signer)"
        case .unknownBackend(let name): "unknown backend '\(name)' (register it first)"
        case .moveAsideFailed(let path, let code):
            "\(path): cannot move the corrupt database aside: rename: \(String(cString: strerror(code)))"
        }
    }
}

/// The durable outbox: records are signed and committed (WAL, `synchronous=FULL`) before anyone may send
/// them or say "stored"; each backend has its own delivery state; the size is bounded with a defined
/// eviction order. Thread-safe: calls are serialized by a mutex and block for the commit's fsync.
public final class Outbox: Sendable {
    final class State {
        let connection: SQLiteConnection
        var lastSequence: Int64
        var lastHash: String?
        var records: Int
        var bytes: Int64
        var held: [RecordDraft] = []
        var heldDropped = 0
        var backends: [String: BacklogOrder] = [:]

        init(connection: SQLiteConnection, lastSequence: Int64, lastHash: String?, records: Int, bytes: Int64) {
            self.connection = connection
            self.lastSequence = lastSequence
            self.lastHash = lastHash
            self.records = records
            self.bytes = bytes
        }

        func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement { try connection.statement(sql) }
    }

    // The connection and its statements are only touched inside `state.withLock`, so one thread at a time.
    private let state: Mutex<State>
    private let sealer: any RecordSealing
    /// Limits and policies.
    public let configuration: OutboxConfiguration
    /// The database path.
    public let path: String
    private let logger: Logger

    /// Opens (or creates) the outbox at `path`. A database that fails its integrity check is moved aside to
    /// `<path>.corrupt-<UTC time>` (with its -wal and -shm), logged, and replaced by a fresh one; the next
    /// health record carries the fault `outbox-corrupt-moved-aside`.
    public init(
        path: String, sealer: any RecordSealing, configuration: OutboxConfiguration = OutboxConfiguration(),
        logger: Logger
    ) throws {
        self.path = path
        self.sealer = sealer
        self.configuration = configuration
        self.logger = logger
        var fault: String?
        let connection: SQLiteConnection
        do {
            connection = try Outbox.openChecked(path: path, configuration: configuration)
        } catch let error as SQLiteError where error.isCorrupt || error.call == "integrity" {
            let aside = try Outbox.moveAside(path: path)
            logger.error(
                "outbox database failed its integrity check; moved aside and starting a fresh outbox",
                metadata: ["path": "\(path)", "moved-to": "\(aside)", "reason": "\(error.message)"])
            fault = "outbox-corrupt-moved-aside"
            connection = try Outbox.openChecked(path: path, configuration: configuration)
        }
        try connection.migrate(Outbox.migrations)
        if let fault { try Outbox.addFault(fault, connection) }
        // Records in flight when the process stopped were never confirmed: send them again.
        try connection.execute("UPDATE delivery SET state = 'pending', next_attempt_ms = 0 WHERE state = 'inflight'")
        let chain = try connection.prepare("SELECT device, last_seq, last_hash FROM chain")
        var lastSequence: Int64 = 0
        var lastHash: String?
        if try chain.step() {
            let device = chain.text(0)
            guard device == sealer.deviceID else {
                throw OutboxError.otherDevice(path: path, stored: device, signer: sealer.deviceID)
            }
            lastSequence = chain.integer(1)
            lastHash = chain.isNull(2) ? nil : chain.text(2)
        }
        let records = Int(try connection.integer("SELECT count(*) FROM records") ?? 0)
        let bytes = try connection.integer("SELECT coalesce(sum(size), 0) FROM records") ?? 0
        let state = State(
            connection: connection, lastSequence: lastSequence, lastHash: lastHash, records: records, bytes: bytes)
        let backends = try connection.prepare("SELECT name, backlog_order FROM backends")
        while try backends.step() {
            state.backends[backends.text(0)] = BacklogOrder(rawValue: backends.text(1)) ?? .oldestFirst
        }
        self.state = Mutex(state)
    }

    static func openChecked(path: String, configuration: OutboxConfiguration) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = FULL")
        if let pages = configuration.maxPageCount { try connection.execute("PRAGMA max_page_count = \(pages)") }
        try connection.quickCheck()
        return connection
    }

    static func moveAside(path: String) throws -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = RecordTime(epochMilliseconds: Int64(now.tv_sec) * 1000).description
            .replacingOccurrences(of: ":", with: "").replacingOccurrences(of: ".000", with: "")
        let aside = "\(path).corrupt-\(stamp)"
        for suffix in ["-wal", "-shm", ""] where access(path + suffix, F_OK) == 0 {
            if rename(path + suffix, aside + suffix) != 0 {
                throw OutboxError.moveAsideFailed(path: path + suffix, errno: errno)
            }
        }
        return aside
    }

    static func addFault(_ fault: String, _ connection: SQLiteConnection) throws {
        try connection.prepare(
            """
            INSERT INTO meta(key, value) VALUES('faults', ?1)
            ON CONFLICT(key) DO UPDATE SET value = value || ',' || excluded.value
            """
        ).bind([.text(fault)]).run()
    }

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
        let stored = try connection.transaction { () throws -> [StoredRecord] in
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
                    .integer(record.kind.isAlert ? 0 : 1), .integer(draft.time.epochMilliseconds), .integer(size),
                    .text(sealed.envelope),
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
        return stored
    }

    /// Deletes delivered records (oldest first), then the oldest undelivered positions, until within bounds.
    /// Runs inside the append's transaction. Alerts and other non-position records are never dropped
    /// undelivered: when only they remain, the outbox grows past its bound (and says so in the log).
    private func evict(records: Int, bytes: Int64, _ state: State) throws -> (Int, Int64) {
        var records = records
        var bytes = bytes
        let connection = state.connection
        let delivered = try state.statement(
            """
            SELECT r.seq, r.size FROM records r
            WHERE EXISTS (SELECT 1 FROM backends) AND NOT EXISTS (
                SELECT 1 FROM backends b WHERE NOT EXISTS (
                    SELECT 1 FROM delivery d WHERE d.backend = b.name AND d.seq = r.seq AND d.state = 'delivered'))
            ORDER BY r.seq LIMIT ?1
            """)
        let positions = try state.statement(
            "SELECT seq, size FROM records WHERE kind = 'position' ORDER BY seq LIMIT ?1")
        let deleteRecord = try state.statement("DELETE FROM records WHERE seq = ?1")
        let deleteDelivery = try state.statement("DELETE FROM delivery WHERE seq = ?1")
        var dropped = 0
        for (query, counts) in [(delivered, false), (positions, true)] {
            while records > configuration.maxRecords || bytes > configuration.maxBytes {
                let excess = max(records - configuration.maxRecords, 1)
                try query.bind([.integer(Int64(min(excess, 256)))])
                var victims: [(Int64, Int64)] = []
                while try query.step() { victims.append((query.integer(0), query.integer(1))) }
                query.reset()
                guard !victims.isEmpty else { break }
                for (seq, size) in victims {
                    guard records > configuration.maxRecords || bytes > configuration.maxBytes else { break }
                    try deleteRecord.bind([.integer(seq)]).run()
                    try deleteDelivery.bind([.integer(seq)]).run()
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

    // MARK: Delivery

    /// Registers a backend (idempotent; the order can be changed). A new backend gets every stored record.
    public func register(backend name: String, backlogOrder: BacklogOrder = .oldestFirst) throws {
        try state.withLock { state in
            try state.connection.prepare(
                """
                INSERT INTO backends(name, backlog_order) VALUES(?1, ?2)
                ON CONFLICT(name) DO UPDATE SET backlog_order = excluded.backlog_order
                """
            ).bind([.text(name), .text(backlogOrder.rawValue)]).run()
            state.backends[name] = backlogOrder
        }
    }

    /// Claims up to `limit` records due for `backend` and marks them in flight: alerts (emergency, tamper,
    /// help) oldest first, then live records (newer than the live window before `now`) newest first, then the
    /// backlog in the backend's order. Records whose retry time is after `now` are skipped.
    public func claimBatch(for backend: String, limit: Int, now: RecordTime) throws -> [StoredRecord] {
        try state.withLock { state in
            guard let order = state.backends[backend] else { throw OutboxError.unknownBackend(backend) }
            let cutoff = now.epochMilliseconds - configuration.liveWindowMilliseconds
            let passes: [(String, String)] = [
                ("r.priority = 0", "ASC"),
                ("r.priority = 1 AND r.created_ms >= ?3", "DESC"),
                ("r.priority = 1 AND r.created_ms < ?3", order == .oldestFirst ? "ASC" : "DESC"),
            ]
            var batch: [StoredRecord] = []
            try state.connection.transaction {
                for (condition, direction) in passes where batch.count < limit {
                    let query = try state.statement(
                        """
                        SELECT r.seq, r.kind, r.created_ms, r.envelope FROM records r
                        LEFT JOIN delivery d ON d.backend = ?1 AND d.seq = r.seq
                        WHERE \(condition) AND (d.state IS NULL OR (d.state = 'pending' AND d.next_attempt_ms <= ?2))
                        ORDER BY r.seq \(direction) LIMIT ?4
                        """)
                    try query.bind([
                        .text(backend), .integer(now.epochMilliseconds), .integer(cutoff),
                        .integer(Int64(limit - batch.count)),
                    ])
                    while try query.step() {
                        batch.append(
                            StoredRecord(
                                sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .position,
                                time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
                    }
                    query.reset()
                }
                let claim = try state.statement(
                    """
                    INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'inflight', 1, 0)
                    ON CONFLICT(backend, seq) DO UPDATE SET state = 'inflight', attempts = attempts + 1
                    """)
                for record in batch { try claim.bind([.text(backend), .integer(record.sequence)]).run() }
            }
            return batch
        }
    }

    /// Marks records delivered to `backend` (the receiver confirmed them).
    public func markDelivered(_ sequences: [Int64], backend: String) throws {
        try update(
            sequences, backend: backend,
            sql: """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'delivered', 1, 0)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'delivered'
                """, extra: nil)
    }

    /// Marks records failed for `backend`: pending again, not before `nextAttempt`.
    public func markFailed(_ sequences: [Int64], backend: String, nextAttempt: RecordTime) throws {
        try update(
            sequences, backend: backend,
            sql: """
                INSERT INTO delivery(backend, seq, state, attempts, next_attempt_ms) VALUES(?1, ?2, 'pending', 1, ?3)
                ON CONFLICT(backend, seq) DO UPDATE SET state = 'pending', next_attempt_ms = excluded.next_attempt_ms
                """, extra: .integer(nextAttempt.epochMilliseconds))
    }

    private func update(_ sequences: [Int64], backend: String, sql: String, extra: SQLiteValue?) throws {
        try state.withLock { state in
            guard state.backends[backend] != nil else { throw OutboxError.unknownBackend(backend) }
            try state.connection.transaction {
                let statement = try state.statement(sql)
                for sequence in sequences {
                    try statement.bind([.text(backend), .integer(sequence)] + (extra.map { [$0] } ?? [])).run()
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

    // MARK: Reading

    /// Every stored record with a sequence number above `after`, in order (for export and verification).
    public func records(after: Int64 = 0) throws -> [StoredRecord] {
        try state.withLock { state in
            let query = try state.statement(
                "SELECT seq, kind, created_ms, envelope FROM records WHERE seq > ?1 ORDER BY seq")
            try query.bind([.integer(after)])
            var result: [StoredRecord] = []
            while try query.step() {
                result.append(
                    StoredRecord(
                        sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .position,
                        time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
            }
            query.reset()
            return result
        }
    }

    /// The last sequence number committed.
    public var lastSequence: Int64 { state.withLock { $0.lastSequence } }

    /// Counts and faults for health records and status output.
    public func status() throws -> OutboxStatus {
        try state.withLock { state in
            let connection = state.connection
            let backendCount = Int64(state.backends.count)
            let undeliveredQuery = try state.statement(
                """
                SELECT count(*), min(created_ms) FROM records r
                WHERE ?1 = 0 OR (SELECT count(*) FROM delivery d WHERE d.seq = r.seq AND d.state = 'delivered') < ?1
                """)
            try undeliveredQuery.bind([.integer(backendCount)])
            _ = try undeliveredQuery.step()
            let undelivered = Int(undeliveredQuery.integer(0))
            let oldest = undeliveredQuery.isNull(1) ? nil : RecordTime(epochMilliseconds: undeliveredQuery.integer(1))
            undeliveredQuery.reset()
            var backends: [BackendStatus] = []
            for (name, order) in state.backends.sorted(by: { $0.key < $1.key }) {
                let query = try state.statement(
                    """
                    SELECT
                      (SELECT count(*) FROM records r WHERE NOT EXISTS (
                          SELECT 1 FROM delivery d WHERE d.backend = ?1 AND d.seq = r.seq AND d.state = 'delivered')),
                      (SELECT count(*) FROM delivery WHERE backend = ?1 AND state = 'inflight'),
                      (SELECT coalesce(max(seq), 0) FROM delivery WHERE backend = ?1 AND state = 'delivered')
                    """)
                try query.bind([.text(name)])
                _ = try query.step()
                backends.append(
                    BackendStatus(
                        name: name, backlogOrder: order, undelivered: Int(query.integer(0)),
                        inFlight: Int(query.integer(1)), highestDelivered: query.integer(2)))
                query.reset()
            }
            let dropped = Int(try connection.text("SELECT value FROM meta WHERE key = 'dropped'") ?? "0") ?? 0
            var faults =
                (try connection.text("SELECT value FROM meta WHERE key = 'faults'"))
                .map { $0.split(separator: ",").map(String.init) } ?? []
            if !state.held.isEmpty { faults.append("disk-full") }
            return OutboxStatus(
                records: state.records, bytes: state.bytes, lastSequence: state.lastSequence, undelivered: undelivered,
                oldestUndelivered: oldest, held: state.held.count, droppedUnreported: dropped + state.heldDropped,
                faults: faults, backends: backends)
        }
    }

    /// Changes SQLite's `max_page_count` (tests use it to simulate a disk filling and space returning).
    public func setMaxPageCount(_ pages: Int) throws {
        try state.withLock { state in try state.connection.execute("PRAGMA max_page_count = \(pages)") }
    }

    /// Writes the WAL back into the database file (call when idle; SQLite also does it every 1000 pages).
    public func checkpoint() throws {
        try state.withLock { state in try state.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
