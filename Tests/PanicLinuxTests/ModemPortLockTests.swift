import PanicLinux
import Synchronization
import Testing

/// The modem port's lock: a waiter whose task is cancelled leaves the queue at once (a text whose deadline passed
/// behind a stuck health reading must end at its deadline), and cancellations racing with hand-overs never lose the
/// port nor grant it twice.
@Suite("Modem port lock under cancellation", .timeLimit(.minutes(1)))
struct ModemPortLockTests {
    /// Holders inside the port at once, and the most ever seen.
    final class Occupancy: Sendable {
        private let state = Mutex((now: 0, most: 0, entered: 0))
        func enter() { state.withLock { $0 = ($0.now + 1, max($0.most, $0.now + 1), $0.entered + 1) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var entered: Int { state.withLock { $0.entered } }
    }

    @Test("a waiter cancelled while the port is held leaves the queue at once with CancellationError")
    func cancelledWaiterLeaves() async throws {
        let lock = ModemPortLock()
        let (ends, end) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        let entered = Occupancy()
        try await lock.withPort {
            let waiter = Task {
                do {
                    try await lock.withPort { entered.enter() }
                    end.yield(.success(()))
                } catch {
                    end.yield(.failure(error))
                }
            }
            while lock.waiting == 0 { await Task.yield() }
            waiter.cancel()
            // The holder still holds the port: the waiter must end now, not when the port is released.
            let outcome = await first(of: ends, within: .seconds(10))
            #expect(lock.isHeld)
            guard let outcome else {
                Issue.record("the cancelled waiter still waits for the port")
                return
            }
            #expect(throws: CancellationError.self) { try outcome.get() }
            #expect(lock.waiting == 0)
        }
        #expect(entered.entered == 0, "the cancelled waiter ran with the port")
        #expect(!lock.isHeld)
        // The port is still usable.
        try await lock.withPort { entered.enter() }
        #expect(entered.entered == 1)
    }

    @Test("cancellations racing with hand-overs: one holder at a time, every uncancelled waiter served, port free")
    func cancellationRace() async throws {
        let lock = ModemPortLock()
        let occupancy = Occupancy()
        // 50 rounds go five times through every (task, round) timing of the cancellations below; each round costs
        // dozens of hand-overs on the shared pool, which a full parallel test run slows many times over.
        for round in 0..<50 {
            let (ends, end) = AsyncStream.makeStream(of: Bool.self)
            let tasks = (0..<8).map { _ in
                Task {
                    do {
                        try await lock.withPort {
                            occupancy.enter()
                            await Task.yield()
                            occupancy.leave()
                        }
                        end.yield(true)
                    } catch {
                        #expect(error is CancellationError)
                        end.yield(false)
                    }
                }
            }
            // Cancel half of them at varying moments: before they queue, while queued, as their turn comes.
            for (index, task) in tasks.enumerated() where (index + round).isMultiple(of: 2) {
                for _ in 0..<(index + round) % 5 { await Task.yield() }
                task.cancel()
            }
            var served = 0
            var cancelled = 0
            for await ran in ends.prefix(tasks.count) {
                if ran { served += 1 } else { cancelled += 1 }
            }
            #expect(served + cancelled == tasks.count)
            #expect(served >= tasks.count / 2, "an uncancelled waiter was refused the port")
            #expect(!lock.isHeld, "the port was lost in round \(round)")
            #expect(lock.waiting == 0)
        }
        #expect(occupancy.most == 1, "two holders at once")
        try await lock.withPort {}
    }
}

/// The first element of `stream`, or nil when none came within `limit` (a test's bounded wait for something that
/// must happen by itself).
func first<T: Sendable>(of stream: AsyncStream<T>, within limit: Duration) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
