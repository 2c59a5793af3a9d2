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
