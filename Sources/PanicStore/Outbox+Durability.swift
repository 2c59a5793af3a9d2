import PanicSQLite

/// Which commits wait for the disk. Appends (and everything that tells anyone "stored", or records what an alert
/// showed) commit at `synchronous = FULL`: the WAL is fsynced before the commit returns. Delivery transitions — a
/// claim, a confirmation, a failure — commit at `NORMAL`: their frames are written to the WAL and made durable by the
/// next FULL commit (or checkpoint), because the WAL only ever recovers a prefix of the commits, in order. Losing them
/// in a power cut sends records again and loses none (docs/outbox.md → *Claims and confirmations do not wait for the
/// disk*).
extension Outbox {
    /// Puts the connection back to `synchronous = FULL` if a delivery transition left it relaxed (setting it back
    /// right after that commit failed): every commit that must be durable calls this first.
    static func restoreDurability(_ state: State) throws {
        guard state.relaxed else { return }
        try state.connection.execute("PRAGMA synchronous = FULL")
        state.relaxed = false
    }

    /// Relaxes the connection to `synchronous = NORMAL` for one delivery transition's commit.
    static func relaxDurability(_ state: State) throws {
        try state.connection.execute("PRAGMA synchronous = NORMAL")
        state.relaxed = true
    }

    /// Calls `observe` after every commit with the connection's `synchronous` level at that commit (1 NORMAL,
    /// 2 FULL), for tests. Replaces the checkpointer's WAL hook: not for an outbox that runs `runCheckpointer`.
    package func observeCommitDurability(_ observe: @escaping @Sendable (Int64) -> Void) {
        state.withLock { state in
            let connection = state.connection
            connection.onWALCommit { [unowned connection] _ in
                // The hook runs after the commit, its write lock released: reading a pragma here is allowed.
                observe((try? connection.integer("PRAGMA synchronous")) ?? -1)
                return false
            }
        }
    }
}
