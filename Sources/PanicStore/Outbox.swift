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
    /// Where the stream's high-water mark is kept outside the outbox (see `StreamMark`), typically beside the device
    /// key: a lost outbox then continues the stream instead of numbering from 1 again. Nil keeps no mark.
    public var streamMarkPath: String?

    public init(
        maxRecords: Int = 50_000, maxBytes: Int64 = 64 << 20, liveWindowMilliseconds: Int64 = 120_000,
        heldPositionLimit: Int = 1000, maxPageCount: Int? = nil, streamMarkPath: String? = nil
    ) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        self.liveWindowMilliseconds = liveWindowMilliseconds
        self.heldPositionLimit = heldPositionLimit
        self.maxPageCount = maxPageCount
        self.streamMarkPath = streamMarkPath
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
    /// A read-only look at an outbox whose schema this build has not migrated yet (the daemon migrates at start).
    case schemaTooOld(path: String, version: Int64, needed: Int64)

    public var description: String {
        switch self {
        case .otherDevice(let path, let stored, let signer):
            "\(path): outbox belongs to device \(stored), but the key is device \(signer)"
        case .unknownBackend(let name): "unknown backend '\(name)' (register it first)"
        case .moveAsideFailed(let path, let code):
            "\(path): cannot move the corrupt database aside: rename: \(String(cString: strerror(code)))"
        case .schemaTooOld(let path, let version, let needed):
            "\(path): outbox schema \(version) is older than this panicd's \(needed); start panicd once to migrate it"
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
        /// Held drafts that a later append committed ahead of its own (see `takeReleased()`).
        var released: [StoredRecord] = []
        var backends: [String: BacklogOrder] = [:]
        /// Delivery counters per backend, kept as records are claimed, marked and evicted (see `Outbox+Counters`).
        var counters: [String: BackendCounters] = [:]
        /// Records every registered backend has (their `delivered_count` is the number of backends).
        var deliveredToAll = 0
        /// The counters as the `tally` table holds them (nil: not known, every row is written at the next transaction).
        var savedTallies: [String: Int64]?
        /// The stream mark outside the outbox, nil when none is kept (or it cannot be opened).
        var mark: StreamMark?
        /// Whether the mark is behind the outbox (a write failed): written again at the next commit.
        var markOwed = false
        /// Whether the records left in flight by the last run still wait to be made pending (the disk was full).
        var inFlightResetOwed = false
        /// Whether the database was opened with its WAL index on the heap (`locking_mode = EXCLUSIVE`, a full card).
        var exclusive = false
        /// Whether the connection was left at `synchronous = NORMAL` by a delivery transition (`Outbox+Durability`).
        var relaxed = false

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
    let state: Mutex<State>
    let sealer: any RecordSealing
    /// Limits and policies.
    public let configuration: OutboxConfiguration
    /// The database path.
    public let path: String
    let logger: Logger

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
            connection = try Outbox.openOnAnyCard(path: path, configuration: configuration, logger: logger)
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
        // Records in flight when the process stopped were never confirmed: send them again. On a full card the reset
        // waits for the first claim that can write (nothing can be claimed before that anyway).
        let resetOwed = try Outbox.resetInFlight(connection, logger: logger)
        // Whatever the WAL holds goes into the database and the WAL file back to zero bytes. A full disk refuses
        // nothing here that presses need: the box starts and holds new records in memory.
        try Outbox.checkpointAtStart(connection, logger: logger)
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
        var mark: StreamMark?
        if let markPath = configuration.streamMarkPath {
            (mark, lastSequence, lastHash) = try Outbox.continueStream(
                markPath: markPath, device: sealer.deviceID, sequence: lastSequence, hash: lastHash,
                connection: connection, logger: logger)
        }
        let records = Int(try connection.integer("SELECT count(*) FROM records") ?? 0)
        let bytes = try connection.integer("SELECT coalesce(sum(size), 0) FROM records") ?? 0
        let state = State(
            connection: connection, lastSequence: lastSequence, lastHash: lastHash, records: records, bytes: bytes)
        let backends = try connection.prepare("SELECT name, backlog_order FROM backends")
        while try backends.step() {
            state.backends[backends.text(0)] = BacklogOrder(rawValue: backends.text(1)) ?? .oldestFirst
        }
        state.mark = mark
        state.inFlightResetOwed = resetOwed
        state.exclusive = (try? connection.text("PRAGMA locking_mode")) == "exclusive"
        try Outbox.loadCounters(state)
        Outbox.storeTallies(state, logger: logger)
        self.state = Mutex(state)
    }

    static func openChecked(
        path: String, configuration: OutboxConfiguration, exclusive: Bool = false
    ) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path)
        if exclusive { try connection.execute("PRAGMA locking_mode = EXCLUSIVE") }
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = FULL")
        // Space kept for alerts: the WAL is checkpointed every 256 pages (1 MiB) and cut back to 1 MiB after each
        // checkpoint, so it cannot grow to fill the space a full disk gets back (with the daemon's checkpointer:
        // 16 MiB at most, Outbox+Checkpoint.swift).
        try connection.execute("PRAGMA wal_autocheckpoint = \(Outbox.autoCheckpointFrames)")
        try connection.execute("PRAGMA journal_size_limit = 1048576")
        if let pages = configuration.maxPageCount { try connection.execute("PRAGMA max_page_count = \(pages)") }
        try connection.quickCheck()
        return connection
    }

    /// `openChecked`, and on a card too full for the WAL's `-shm` index, again with the index on the heap
    /// (`locking_mode = EXCLUSIVE`: no other process can read the outbox until the daemon restarts with space, so
    /// `panicd outbox status` says the database is locked; the box itself arms and takes presses).
    static func openOnAnyCard(
        path: String, configuration: OutboxConfiguration, logger: Logger
    ) throws -> SQLiteConnection {
        do {
            return try openChecked(path: path, configuration: configuration)
        } catch let error as SQLiteError where error.isSharedMemoryFailure || error.isFull {
            logger.error(
                "outbox disk full at start-up: no room for the WAL index; keeping it in memory (exclusive lock)",
                metadata: ["path": "\(path)", "error": "\(error)"])
            return try openChecked(path: path, configuration: configuration, exclusive: true)
        }
    }

    /// Makes the records left in flight pending again; returns true when a full disk refused it (owed until a claim).
    static func resetInFlight(_ connection: SQLiteConnection, logger: Logger) throws -> Bool {
        do {
            try connection.transaction {
                try connection.execute(
                    """
                    INSERT OR IGNORE INTO pending(backend, priority, seq, created_ms)
                    SELECT d.backend, r.priority, r.seq, r.created_ms FROM delivery d JOIN records r ON r.seq = d.seq
                    WHERE d.state = 'inflight';
                    UPDATE delivery SET state = 'pending', next_attempt_ms = 0 WHERE state = 'inflight';
                    """)
            }
            return false
        } catch let error as SQLiteError where error.isFull {
            logger.error(
                "outbox disk full at start-up: records left in flight are sent again once a claim can be written",
                metadata: ["path": "\(connection.path)"])
            return true
        }
    }

    static func checkpointAtStart(_ connection: SQLiteConnection, logger: Logger) throws {
        do {
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch {
            guard error.isFull else { throw error }
            logger.error(
                "outbox disk full at start-up: the box arms and holds new records in memory until space returns",
                metadata: ["path": "\(connection.path)", "error": "\(error)"])
        }
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
}
