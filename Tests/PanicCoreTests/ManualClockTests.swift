import PanicCore
import Synchronization
import Testing

@Suite("Manual clock", .timeLimit(.minutes(5)))
struct ManualClockTests {
    @Test("sleepers wake in deadline order when time is advanced past them, not before")
    func wakesInOrder() async throws {
        let clock = ManualClock()
        let woken = WokenLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seconds in [3, 1, 2] {
                group.addTask {
                    try await clock.sleep(for: .seconds(seconds))
                    woken.append(seconds)
                }
            }
            while clock.sleeperCount < 3 { await Task.yield() }
            clock.advance(by: .milliseconds(1500))
            while woken.values.count < 1 { await Task.yield() }
            #expect(woken.values == [1])
            #expect(clock.nextDeadline == MonotonicInstant(sinceOrigin: .seconds(2)))
            clock.advance(by: .hours(24))
            try await group.waitForAll()
        }
        #expect(woken.values.sorted() == [1, 2, 3])
        #expect(clock.now == MonotonicInstant(sinceOrigin: .seconds(1.5) + .hours(24)))
    }

    @Test("a cancelled sleeper throws CancellationError and leaves no sleeper behind")
    func cancellation() async {
        let clock = ManualClock()
        let task = Task { try await clock.sleep(for: .seconds(10)) }
        while clock.sleeperCount < 1 { await Task.yield() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("a deadline already passed returns at once")
    func pastDeadline() async throws {
        let clock = ManualClock(now: MonotonicInstant(sinceOrigin: .seconds(5)))
        try await clock.sleep(until: MonotonicInstant(sinceOrigin: .seconds(1)), tolerance: nil)
        #expect(clock.sleeperCount == 0)
    }
}

extension Duration {
    fileprivate static func hours(_ n: Int) -> Duration { .seconds(n * 3600) }
}

/// Collects values appended from several tasks.
final class WokenLog: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ value: Int) { storage.withLock { $0.append(value) } }
    var values: [Int] { storage.withLock { $0 } }
}
