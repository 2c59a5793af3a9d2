import Logging
import PanicSQLite

/// The status counters kept in the outbox file (`tally`, one row per figure), so that a reader without the daemon's
/// memory — `panicd outbox status` beside a running box — reads them instead of counting the rows. Written by every
/// transaction that moves them, inside it (only the rows that changed): a crash or a rollback leaves them as the rows
/// are. The open outbox counts afresh (`loadCounters`) and writes what differs, so a file migrated to step 6 gets them
/// at its first open.
extension Outbox {
    /// The counters as `tally` rows.
    static func tallies(
        records: Int, bytes: Int64, deliveredToAll: Int, counters: [String: BackendCounters]
    ) -> [String: Int64] {
        var rows: [String: Int64] = [
            "records": Int64(records), "bytes": bytes, "delivered-to-all": Int64(deliveredToAll),
        ]
        for (name, counter) in counters {
            rows["delivered:\(name)"] = Int64(counter.delivered)
            rows["inflight:\(name)"] = Int64(counter.inFlight)
            rows["highest:\(name)"] = counter.highestDelivered
        }
        return rows
    }

    /// Writes the rows of `tally` that differ from the counters (inside the caller's transaction).
    static func saveTallies(_ state: State, records: Int, bytes: Int64) throws {
        let rows = tallies(
            records: records, bytes: bytes, deliveredToAll: state.deliveredToAll, counters: state.counters)
        guard rows != state.savedTallies else { return }
        let upsert = try state.statement(
            "INSERT INTO tally(name, value) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        for (name, value) in rows.sorted(by: { $0.key < $1.key }) where state.savedTallies?[name] != value {
            try upsert.bind([.text(name), .integer(value)]).run()
        }
        state.savedTallies = rows
    }

    /// The `tally` rows of a file.
    static func readTallies(_ connection: SQLiteConnection) throws -> [String: Int64] {
        let query = try connection.statement("SELECT name, value FROM tally")
        defer { query.reset() }
        var rows: [String: Int64] = [:]
        while try query.step() { rows[query.text(0)] = query.integer(1) }
        return rows
    }

    /// At open: the counters just counted go into `tally` where it differs (after the migration, or a file an older
    /// build wrote). A full card refuses the write: logged, and the first transaction that can write brings it level.
    static func storeTallies(_ state: State, logger: Logger) {
        do {
            state.savedTallies = try readTallies(state.connection)
            try countedTransaction(state) {}
        } catch {
            logger.warning(
                "cannot write the outbox's status counters; written with the next change",
                metadata: ["error": "\(error)"])
            state.savedTallies = nil
        }
    }

    /// The status figures from a file's `tally` rows, nil when they are missing (the file was never opened by a build
    /// that keeps them).
    static func tallied(
        _ connection: SQLiteConnection, backends: [String]
    ) throws -> (records: Int, bytes: Int64, counters: [String: BackendCounters], deliveredToAll: Int)? {
        let rows = try readTallies(connection)
        guard let records = rows["records"], let bytes = rows["bytes"], let all = rows["delivered-to-all"] else {
            return nil
        }
        var counters: [String: BackendCounters] = [:]
        for name in backends {
            guard let delivered = rows["delivered:\(name)"], let inFlight = rows["inflight:\(name)"],
                let highest = rows["highest:\(name)"]
            else { return nil }
            counters[name] = BackendCounters(
                delivered: Int(delivered), inFlight: Int(inFlight), highestDelivered: highest)
        }
        return (Int(records), bytes, counters, Int(all))
    }
}
