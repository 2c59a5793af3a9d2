import Logging
import PanicCore
import PanicSQLite
import Synchronization

/// Checkpoints off the press path. By default SQLite checkpoints inside the commit that crosses
/// `wal_autocheckpoint` pages: one press in ~140 pays a few milliseconds copying the WAL into the database file,
/// under the outbox's lock. While `runCheckpointer(clock:)` runs, the commit only signals (a WAL hook) and a
/// second connection checkpoints in `PASSIVE` mode on its own task, never waiting for, nor blocking, the writer.
///
/// A checkpoint beside a commit still costs that commit: both flush the same card. So the checkpointer waits for
/// the writer to pause (`checkpointQuiet` without a commit, once `idleCheckpointFrames` are in the WAL): a box
/// commits a position every few seconds and a press now and then, and its checkpoints land in the gaps between.
/// A writer that never pauses (a backlog committed in a burst) gets a checkpoint at `busyCheckpointFrames` all the
/// same; and since a burst can keep a passive checkpoint from completing, at `walFrameLimit` frames the commit
/// checkpoints by itself, so the WAL stays bounded (space kept for alerts). A checkpoint that copied every frame
/// lets the next commit rewind the WAL, and `journal_size_limit` cuts the file back.
extension Outbox {
    /// SQLite's own auto-checkpoint interval, in commits, when no checkpointer runs (1 MiB).
    public static let autoCheckpointFrames = 256
    /// WAL frames (pages) after which a checkpoint is due once the writer pauses: 256 KiB.
    public static let idleCheckpointFrames = 64
    /// WAL frames after which a checkpoint runs at once, pause or not (8 MiB): a writer that never pauses.
    public static let busyCheckpointFrames = 2048
    /// WAL frames at which a commit checkpoints by itself after all (16 MiB): the checkpointer fell behind.
    public static let walFrameLimit = 4096
    /// How long the writer must have been quiet for an idle checkpoint.
    public static let checkpointQuiet: Duration = .milliseconds(50)

    /// Why a checkpoint ran (`runCheckpointer`'s `onCheckpoint`, for tests and the bench).
    public enum CheckpointCause: Sendable, Equatable {
        /// The writer was quiet for `checkpointQuiet` with `idleCheckpointFrames` or more in the WAL.
        case idle
        /// The WAL reached `busyCheckpointFrames` with no pause.
        case busy
    }

    /// Checkpoints in the writer's pauses (and at `busyCheckpointFrames` without one), until cancelled; then hands
    /// checkpointing back to SQLite's own auto-checkpoint. `clock` times the pauses (the daemon's clock). A failed
    /// checkpoint (a full disk) is logged and tried again at the next signal; nothing committed depends on it.
    /// `onCheckpoint` hears each completed checkpoint and its frame count. Never throws: without it, checkpoints
    /// stay inside commits.
    public func runCheckpointer(
        clock: any MonotonicClock, quiet: Duration = Outbox.checkpointQuiet,
        onCheckpoint: @escaping @Sendable (CheckpointCause, Int) -> Void = { _, _ in }
    ) async {
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
        // The last commit's time and frame count, written by the WAL hook on the committing thread.
        let last = LastCommit(at: clock.now)
        let (due, signal) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.connection.onWALCommit { frames in
                last.value.withLock { $0 = (clock.now, frames, $0.commits + 1) }
                if frames >= Outbox.idleCheckpointFrames { signal.yield(frames) }
                // Writes faster than the checkpointer can catch up (a backlog committed in a burst): the commit
                // checkpoints itself, as without the checkpointer, so the WAL never outgrows `walFrameLimit`.
                return frames >= Outbox.walFrameLimit
            }
        }
        defer {
            state.withLock { state in
                state.connection.onWALCommit(nil)
                try? state.connection.execute("PRAGMA wal_autocheckpoint = \(Outbox.autoCheckpointFrames)")
            }
            signal.finish()
        }
        await withTaskCancellationHandler {
            // The commits a completed checkpoint covered: a signal left over from before it needs no second one.
            var covered = 0
            for await _ in due {
                let (_, frames, commits) = last.value.withLock { $0 }
                guard frames >= Outbox.idleCheckpointFrames, commits > covered else { continue }
                // Wait for a pause: until `quiet` after the latest commit, moved on by every commit in between,
                // unless the WAL has grown to the busy bound.
                var cause = CheckpointCause.idle
                while true {
                    let (at, frames, _) = last.value.withLock { $0 }
                    if frames >= Outbox.busyCheckpointFrames {
                        cause = .busy
                        break
                    }
                    let deadline = at.advanced(by: quiet)
                    if clock.now >= deadline { break }
                    do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
                }
                let (_, copied, through) = last.value.withLock { $0 }
                do {
                    let complete = try checkpointer.checkpointPassive()
                    covered = through
                    if complete, cause == .idle { rewindWAL(unlessCommittedSince: through, last: last) }
                    onCheckpoint(cause, copied)
                } catch {
                    logger.warning(
                        "outbox checkpoint failed; tried again at the next commit",
                        metadata: ["frames": "\(copied)", "error": "\(error)"])
                }
            }
        } onCancel: {
            signal.finish()
        }
    }
}

extension Outbox {
    /// After a checkpoint that copied the whole WAL, in the writer's pause: one small commit (the `meta` row
    /// `wal-rewound`) rewinds the WAL here rather than in the next record's commit. The first commit into a rewound
    /// WAL writes and syncs a new WAL header and cuts the file back to `journal_size_limit`: a second flush and a
    /// change of the file's size inside that commit, which made the record committed next after every checkpoint
    /// the slowest of its hundred (1 run in 9 of `make bench-outbox` missed its p99 bound by it). Skipped when a
    /// commit came since the checkpoint (it rewound the WAL already). Under the outbox's lock: a press arriving
    /// now waits for this commit, as it would for any other.
    func rewindWAL(unlessCommittedSince commits: Int, last: LastCommit) {
        state.withLock { state in
            guard last.value.withLock({ $0.commits }) == commits else { return }
            do {
                try state.statement(
                    """
                    INSERT INTO meta(key, value) VALUES('wal-rewound', ?1)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value
                    """
                ).bind([.text(String(commits))]).run()
            } catch {
                logger.debug("cannot rewind the WAL in the pause", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// The last commit's time and frame count, and the commits so far, shared by the WAL hook (the committing thread) and the checkpointer.
final class LastCommit: Sendable {
    let value: Mutex<(at: MonotonicInstant, frames: Int, commits: Int)>
    init(at: MonotonicInstant) { value = Mutex((at, 0, 0)) }
}
