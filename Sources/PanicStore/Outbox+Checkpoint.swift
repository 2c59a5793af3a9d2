import Logging
import PanicSQLite

/// Checkpoints off the press path. By default SQLite checkpoints inside the commit that crosses
/// `wal_autocheckpoint` pages: one press in ~140 pays a few milliseconds copying the WAL into the database file,
/// under the outbox's lock. While `runCheckpointer()` runs, the commit only signals (a WAL hook) and a second
/// connection checkpoints in `PASSIVE` mode on its own task — never waiting for, nor blocking, the writer. A
/// checkpoint that copied every frame lets the next commit rewind the WAL, and `journal_size_limit` cuts the file
/// back. A writer that never pauses (a backlog committed in a burst) keeps a passive checkpoint from ever
/// completing; at `walFrameLimit` frames the commit checkpoints by itself, so the WAL stays bounded (space kept
/// for alerts).
extension Outbox {
    /// WAL frames (pages) after which a checkpoint is due: the same 1 MiB as `wal_autocheckpoint`.
    public static let checkpointFrames = 256
    /// WAL frames at which a commit checkpoints by itself after all (4 MiB): the checkpointer fell behind.
    public static let walFrameLimit = 1024

    /// Checkpoints whenever the WAL has grown past `checkpointFrames`, until cancelled; then hands checkpointing
    /// back to SQLite's own auto-checkpoint. A failed checkpoint (a full disk) is logged and tried again at the
    /// next signal; nothing committed depends on it. Never throws: without it, checkpoints stay inside commits.
    public func runCheckpointer() async {
        // An outbox opened with its WAL index on the heap (a full card) has no second connection: SQLite keeps
        // checkpointing inside commits there.
        guard !state.withLock({ $0.exclusive }) else { return }
        let checkpointer: SQLiteConnection
        do {
            checkpointer = try SQLiteConnection(path: path, create: false)
            try checkpointer.execute("PRAGMA busy_timeout = 0")
        } catch {
            logger.warning(
                "cannot open the outbox's checkpoint connection; checkpoints stay inside commits",
                metadata: ["error": "\(error)"])
            return
        }
        let (due, signal) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.connection.onWALCommit { frames in
                if frames >= Outbox.checkpointFrames { signal.yield(frames) }
                // Writes faster than the checkpointer can catch up (a backlog committed in a burst): the commit
                // checkpoints itself, as without the checkpointer, so the WAL never outgrows `walFrameLimit`.
                return frames >= Outbox.walFrameLimit
            }
        }
        defer {
            state.withLock { state in
                state.connection.onWALCommit(nil)
                try? state.connection.execute("PRAGMA wal_autocheckpoint = \(Outbox.checkpointFrames)")
            }
            signal.finish()
        }
        await withTaskCancellationHandler {
            for await frames in due {
                do {
                    try checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                } catch {
                    logger.warning(
                        "outbox checkpoint failed; tried again at the next commit",
                        metadata: ["frames": "\(frames)", "error": "\(error)"])
                }
            }
        } onCancel: {
            signal.finish()
        }
    }
}
