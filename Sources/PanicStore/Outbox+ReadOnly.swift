import Foundation
import PanicCore
import PanicSQLite

extension Outbox {
    /// The counts of `status()` for an outbox on disk, read without its device key and without disturbing a
    /// daemon that has it open: the database is opened without creating it, with `query_only`, and nothing is
    /// migrated or reset (`panicd outbox status` on a running box). Records held in memory by the daemon are not
    /// visible from here.
    public static func status(readingOnly path: String) throws -> OutboxStatus {
        // Opened without create: a missing file is an error naming it (SQLITE_CANTOPEN), not a new empty outbox.
        let connection = try SQLiteConnection(path: path, create: false)
        try connection.execute("PRAGMA query_only = 1")
        let backends = try connection.prepare("SELECT name, backlog_order FROM backends ORDER BY name")
        var names: [(String, BacklogOrder)] = []
        while try backends.step() {
            names.append((backends.text(0), BacklogOrder(rawValue: backends.text(1)) ?? .oldestFirst))
        }
        let undeliveredQuery = try connection.prepare(
            """
            SELECT count(*), min(created_ms) FROM records r
            WHERE ?1 = 0 OR (SELECT count(*) FROM delivery d WHERE d.seq = r.seq AND d.state = 'delivered') < ?1
            """
        ).bind([.integer(Int64(names.count))])
        _ = try undeliveredQuery.step()
        let undelivered = Int(undeliveredQuery.integer(0))
        let oldest = undeliveredQuery.isNull(1) ? nil : RecordTime(epochMilliseconds: undeliveredQuery.integer(1))
        var statuses: [BackendStatus] = []
        for (name, order) in names {
            let query = try connection.prepare(
                """
                SELECT
                  (SELECT count(*) FROM records r WHERE NOT EXISTS (
                      SELECT 1 FROM delivery d WHERE d.backend = ?1 AND d.seq = r.seq AND d.state = 'delivered')),
                  (SELECT count(*) FROM delivery WHERE backend = ?1 AND state = 'inflight'),
                  (SELECT coalesce(max(seq), 0) FROM delivery WHERE backend = ?1 AND state = 'delivered')
                """
            ).bind([.text(name)])
            _ = try query.step()
            statuses.append(
                BackendStatus(
                    name: name, backlogOrder: order, undelivered: Int(query.integer(0)),
                    inFlight: Int(query.integer(1)),
                    highestDelivered: query.integer(2)))
        }
        let records = Int(try connection.integer("SELECT count(*) FROM records") ?? 0)
        let bytes = try connection.integer("SELECT coalesce(sum(size), 0) FROM records") ?? 0
        let lastSequence = try connection.integer("SELECT coalesce(max(last_seq), 0) FROM chain") ?? 0
        let dropped = Int(try connection.text("SELECT value FROM meta WHERE key = 'dropped'") ?? "0") ?? 0
        let faults =
            (try connection.text("SELECT value FROM meta WHERE key = 'faults'"))
            .map { $0.split(separator: ",").map(String.init) } ?? []
        return OutboxStatus(
            records: records, bytes: bytes, lastSequence: lastSequence, undelivered: undelivered,
            oldestUndelivered: oldest, held: 0, droppedUnreported: dropped, faults: faults, backends: statuses)
    }
}
