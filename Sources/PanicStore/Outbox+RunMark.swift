import PanicCore
import PanicSQLite

/// The run mark: how the box's previous run ended (docs/outbox.md → run mark). `panicd run` (and the simulated box)
/// writes `running:<ms>` when it starts and `stopped:<ms>` when it shuts down cleanly, so the next start knows a
/// clean restart from a power cut. One `meta` row (`run`); no schema step.
extension Outbox {
    static let runMarkKey = "run"

    /// The previous run's mark, nil when no run has marked this outbox (a new outbox, or one from a release before
    /// boot records) or the row is not a mark.
    public func runMark() throws -> RunMark? {
        try state.withLock { state in
            let query = try state.statement("SELECT value FROM meta WHERE key = ?1")
            defer { query.reset() }
            try query.bind([.text(Outbox.runMarkKey)])
            guard try query.step() else { return nil }
            return RunMark(text: query.text(0))
        }
    }

    /// Replaces the run mark (committed before this returns; throws on a full disk).
    public func setRunMark(_ mark: RunMark) throws {
        try state.withLock { state in
            try Outbox.restoreDurability(state)
            try state.statement(
                """
                INSERT INTO meta(key, value) VALUES(?1, ?2)
                ON CONFLICT(key) DO UPDATE SET value = excluded.value
                """
            ).bind([.text(Outbox.runMarkKey), .text(mark.text)]).run()
        }
    }

    /// The wall time (UTC milliseconds) of the newest record still stored (the highest sequence), nil when none is.
    public func newestRecordTime() throws -> Int64? {
        try state.withLock { state in
            try state.connection.integer("SELECT created_ms FROM records ORDER BY seq DESC LIMIT 1")
        }
    }
}
