import Foundation
import Logging
import PanicCore
import PanicSQLite

extension Outbox {
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

    /// The SQLite virtual-machine steps the outbox's statements ran since the last call (see
    /// `SQLiteConnection.takeVMSteps()`), for tests that bound a claim's work by its batch.
    package func takeVMSteps() -> Int { state.withLock { $0.connection.takeVMSteps() } }

    /// Statements the outbox ran since the last call (`SQLiteConnection.takeStatementRuns()`), for tests that bound a
    /// claim's or a confirmation's statements per batch.
    package func takeStatementRuns() -> Int { state.withLock { $0.connection.takeStatementRuns() } }

    /// The last sequence number committed.
    public var lastSequence: Int64 { state.withLock { $0.lastSequence } }

    /// Counts and faults for health records and status output: maintained counters and a few index seeks, so the
    /// cost does not grow with the outbox (see `Outbox+Counters`).
    public func status() throws -> OutboxStatus {
        try state.withLock { state in
            let connection = state.connection
            let undelivered = state.backends.isEmpty ? state.records : state.records - state.deliveredToAll
            let oldest =
                try undelivered == 0
                ? nil
                : Outbox.oldestUndelivered(state.connection, backends: state.backends.count).map {
                    RecordTime(epochMilliseconds: $0)
                }
            let backends = state.backends.sorted(by: { $0.key < $1.key }).map { name, order in
                let counter = state.counters[name] ?? BackendCounters()
                return BackendStatus(
                    name: name, backlogOrder: order, undelivered: state.records - counter.delivered,
                    inFlight: counter.inFlight, highestDelivered: counter.highestDelivered)
            }
            let dropped = Int(try connection.text("SELECT value FROM meta WHERE key = 'dropped'") ?? "0") ?? 0
            var faults =
                (try connection.text("SELECT value FROM meta WHERE key = 'faults'"))
                .map { $0.split(separator: ",").map(String.init) } ?? []
            if !state.held.isEmpty { faults.append("disk-full") }
            if state.markOwed { faults.append(Outbox.markUnwritableFault) }
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
