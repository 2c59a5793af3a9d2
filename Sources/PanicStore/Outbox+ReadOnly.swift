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
        try status(reading: try openReadingOnly(path))
    }

    /// The figures of `status(readingOnly:)` from a connection to the file: the counters the outbox keeps in `tally`
    /// and a few index seeks, the same cost at 40,000 records as at 10. A file without them (never opened by a build
    /// that keeps them) is counted instead, in one grouped pass.
    package static func status(reading connection: SQLiteConnection) throws -> OutboxStatus {
        let backends = try connection.statement("SELECT name, backlog_order FROM backends ORDER BY name")
        var names: [(String, BacklogOrder)] = []
        while try backends.step() {
            names.append((backends.text(0), BacklogOrder(rawValue: backends.text(1)) ?? .oldestFirst))
        }
        backends.reset()
        let records: Int
        let bytes: Int64
        let counted: (counters: [String: BackendCounters], deliveredToAll: Int)
        if let tallied = try Outbox.tallied(connection, backends: names.map(\.0)) {
            (records, bytes) = (tallied.records, tallied.bytes)
            counted = (tallied.counters, tallied.deliveredToAll)
        } else {
            counted = try Outbox.countDeliveries(connection, backends: names.map(\.0))
            records = Int(try connection.integer("SELECT count(*) FROM records") ?? 0)
            bytes = try connection.integer("SELECT coalesce(sum(size), 0) FROM records") ?? 0
        }
        let undelivered = names.isEmpty ? records : records - counted.deliveredToAll
        let oldest =
            try undelivered == 0
            ? nil
            : Outbox.oldestUndelivered(connection, backends: names.count).map { RecordTime(epochMilliseconds: $0) }
        let statuses = names.map { name, order in
            let counter = counted.counters[name] ?? BackendCounters()
            return BackendStatus(
                name: name, backlogOrder: order, undelivered: records - counter.delivered, inFlight: counter.inFlight,
                highestDelivered: counter.highestDelivered)
        }
        let lastSequence = try connection.integer("SELECT coalesce(max(last_seq), 0) FROM chain") ?? 0
        let dropped = Int(try connection.text("SELECT value FROM meta WHERE key = 'dropped'") ?? "0") ?? 0
        let faults =
            (try connection.text("SELECT value FROM meta WHERE key = 'faults'"))
            .map { $0.split(separator: ",").map(String.init) } ?? []
        return OutboxStatus(
            records: records, bytes: bytes, lastSequence: lastSequence, undelivered: undelivered,
            oldestUndelivered: oldest, held: 0, droppedUnreported: dropped, faults: faults, backends: statuses)
    }

    /// Every stored record's sequence and envelope, in order, with the backends that confirmed it, read as
    /// `status(readingOnly:)` reads: what an auditor compares, by identity, with a receiver's records
    /// (`panicd outbox identities`).
    public static func envelopes(
        readingOnly path: String
    ) throws -> [(sequence: Int64, envelope: String, deliveredTo: [String])] {
        let connection = try openReadingOnly(path)
        var delivered: [Int64: [String]] = [:]
        let confirmations = try connection.prepare(
            "SELECT seq, backend FROM delivery WHERE state = 'delivered' ORDER BY seq, backend")
        while try confirmations.step() {
            delivered[confirmations.integer(0), default: []].append(confirmations.text(1))
        }
        let records = try connection.prepare("SELECT seq, envelope FROM records ORDER BY seq")
        var result: [(sequence: Int64, envelope: String, deliveredTo: [String])] = []
        while try records.step() {
            let sequence = records.integer(0)
            result.append((sequence, records.text(1), delivered[sequence] ?? []))
        }
        return result
    }

    /// Opens an outbox file without creating, migrating or writing it; refuses a schema this build has not migrated.
    package static func openReadingOnly(_ path: String) throws -> SQLiteConnection {
        // Opened without create: a missing file is an error naming it (SQLITE_CANTOPEN), not a new empty outbox.
        let connection = try SQLiteConnection(path: path, create: false)
        try connection.execute("PRAGMA query_only = 1")
        let version = try connection.integer("PRAGMA user_version") ?? 0
        let needed = Outbox.migrations.map(\.version).max() ?? 0
        guard version >= needed else { throw OutboxError.schemaTooOld(path: path, version: version, needed: needed) }
        return connection
    }
}
