import Foundation
import PanicCore
import PanicSQLite
import Synchronization
import Testing

@testable import ControlRoomKit

/// The SQLite store under load: reads on connections of their own never queue behind an intake transaction, and
/// checkpoints run beside the commits instead of inside one (docs/scaling.md → *Readers and checkpoints beside the
/// writer (SQLite)*). Real files, real threads.
@Suite("SQLite store: readers and checkpoints beside the writer", .timeLimit(.minutes(1)))
struct SQLiteReaderTests {
    final class Flag: Sendable {
        let value = Mutex(false)
    }

    @Test("a desk read answers while an intake transaction holds the writer (as it does while its fsync runs)")
    func readWhileWriterHeld() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.send(try fixture.chain(3, alertAt: [2]).map(\.envelope))
        let store = try #require(fixture.room.store as? SQLiteControlRoomStore)
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let released = Flag()
        // The writer's lock, held by another thread until the read is done (or 10 s, when the read waits for it).
        let holder = Thread {
            store.state.withLock { _ in
                held.signal()
                _ = release.wait(timeout: .now() + 10)
                released.value.withLock { $0 = true }
            }
        }
        holder.start()
        held.wait()
        let open = try store.alerts(.open, now: .systemNow())
        let page = try store.devicePage(DevicePageRequest(after: nil, limit: 10))
        let answeredWhileHeld = !released.value.withLock { $0 }
        release.signal()
        #expect(answeredWhileHeld, "the read waited for the writer's transaction")
        #expect(open.map(\.device) == [fixture.deviceID])
        #expect(page.counts[fixture.deviceID]?.records == 3)
    }

    @Test("a reader connection refuses writes: a read path that wrote would fail, not write behind the writer's back")
    func readersAreQueryOnly() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteControlRoomStore(path: directory + "/cr.db")
        #expect(throws: SQLiteError.self) {
            try store.read { state in try state.connection.execute("DELETE FROM sessions") }
        }
    }

    @Test("a read that leaves a statement mid-result does not pin its reader to an old snapshot")
    func noPinnedSnapshot() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteControlRoomStore(path: directory + "/cr.db")
        let now = RecordTime.systemNow()
        for name in ["asha", "bala"] {
            try store.addUser(name: name, role: .operator, passwordHash: "x", tokenHash: nil, now: now)
        }
        // Each reader in turn: a query stepped to its first row and left there.
        for _ in store.readers {
            try store.read { state in
                let names = try state.statement("SELECT name FROM users ORDER BY name")
                try names.bind([])
                _ = try names.step()
            }
        }
        try store.addUser(name: "chitra", role: .operator, passwordHash: "x", tokenHash: nil, now: now)
        #expect(try store.users().map(\.name) == ["asha", "bala", "chitra"])
    }

    @Test("with the checkpointer running, a commit leaves the checkpoint to it, which copies the WAL into the file")
    func checkpointer() async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/cr.db"
        let store = try SQLiteControlRoomStore(path: path)
        let (started, ready) = AsyncStream<Void>.makeStream()
        let (checkpoints, sink) = AsyncStream<Bool>.makeStream()
        let task = Task {
            await store.runCheckpointer(
                logger: StoreKind.quiet, started: { ready.yield() }, onCheckpoint: { sink.yield($0) })
        }
        var startedEvents = started.makeAsyncIterator()
        await startedEvents.next()
        let before = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        // 12 commits of 100 rows of 3,000 bytes: a page each, 1,200 WAL frames, past `checkpointFrames`.
        try store.state.withLock { state in
            try state.connection.execute("CREATE TABLE filler(x BLOB)")
            for _ in 0..<12 {
                try state.connection.execute(
                    """
                    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
                    INSERT INTO filler SELECT randomblob(3000) FROM n
                    """)
            }
        }
        var events = checkpoints.makeAsyncIterator()
        let complete = await events.next()
        #expect(complete != nil)
        let after = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(after >= before + 1000 * 4096, "the checkpoint copied the rows into the database file")
        task.cancel()
        await task.value
        // Stopped, it hands checkpointing back to SQLite's own.
        let interval = try store.state.withLock { state in try state.connection.integer("PRAGMA wal_autocheckpoint") }
        #expect(interval == Int64(SQLiteControlRoomStore.checkpointFrames))
    }
}
