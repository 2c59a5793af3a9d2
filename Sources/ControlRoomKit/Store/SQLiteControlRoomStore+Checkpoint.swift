import Logging
import NIOPosix
import PanicSQLite
import ServiceLifecycle

/// Checkpoints off the intake's commits. By default SQLite checkpoints inside the commit that crosses
/// `wal_autocheckpoint` pages, under the store's lock: at 1,000 records a second that was one group commit in
/// about twenty, and it held every intake request behind it while it copied 4 MiB into the database file and
/// flushed it (docs/scaling.md → *Readers and checkpoints beside the writer (SQLite)*). While `SQLiteCheckpointer`
/// runs, the commit only signals (a WAL hook) and a connection of its own checkpoints in `PASSIVE` mode on a thread
/// of its own, never waiting for, nor blocking, the writer or a reader. Should it fall behind, the commit that finds
/// the WAL at `walFrameLimit` checkpoints by itself, so the WAL stays bounded.
extension SQLiteControlRoomStore {
    /// WAL frames (pages) after which a checkpoint is due: SQLite's own interval, 4 MiB.
    public static let checkpointFrames = 1000
    /// WAL frames at which a commit checkpoints by itself after all (64 MiB): the checkpointer fell behind.
    public static let walFrameLimit = 16_384

    /// Checkpoints whenever the WAL holds `checkpointFrames` or more, until cancelled; then hands checkpointing back
    /// to SQLite's own auto-checkpoint. A failed checkpoint (a full disk) is logged and tried again at the next
    /// signal: nothing committed depends on it. `started` hears that commits now leave checkpoints to it;
    /// `onCheckpoint` hears each checkpoint (whether it copied the whole WAL).
    public func runCheckpointer(
        logger: Logger, started: @Sendable () -> Void = {},
        onCheckpoint: @escaping @Sendable (Bool) -> Void = { _ in }
    ) async {
        let checkpointer: LockedConnection
        do {
            let connection = try SQLiteConnection(path: path, create: false)
            try connection.execute("PRAGMA busy_timeout = 0")
            checkpointer = LockedConnection(connection)
        } catch {
            logger.warning(
                "cannot open the store's checkpoint connection; checkpoints stay inside commits",
                metadata: ["error": "\(error)"])
            return
        }
        // A thread of its own: a checkpoint copies megabytes and flushes them, and must not hold a thread that
        // runs tasks, nor one of NIO's shared pool that others wait for.
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        defer { thread.shutdownGracefully { _ in } }
        let (due, signal) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.connection.onWALCommit { frames in
                if frames >= Self.checkpointFrames { signal.yield(frames) }
                return frames >= Self.walFrameLimit
            }
        }
        started()
        defer {
            state.withLock { state in
                state.connection.onWALCommit(nil)
                try? state.connection.execute("PRAGMA wal_autocheckpoint = \(Self.checkpointFrames)")
            }
            signal.finish()
        }
        await withTaskCancellationHandler {
            for await frames in due {
                do {
                    let complete = try await thread.runIfActive {
                        try checkpointer.state.withLock { try $0.connection.checkpointPassive() }
                    }
                    onCheckpoint(complete)
                } catch {
                    logger.warning(
                        "store checkpoint failed; tried again at the next commit",
                        metadata: ["frames": "\(frames)", "error": "\(error)"])
                }
            }
        } onCancel: {
            signal.finish()
        }
    }
}

/// The SQLite store's checkpointer as a service of `controlroom serve` (see `runCheckpointer`).
public struct SQLiteCheckpointer: Service {
    let store: SQLiteControlRoomStore
    let logger: Logger

    public init(store: SQLiteControlRoomStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await store.runCheckpointer(logger: logger) }
    }
}
