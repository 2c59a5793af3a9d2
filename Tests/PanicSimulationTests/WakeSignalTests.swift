import Synchronization
import Testing

@testable import PanicSimulation

@Suite("The real-time conductor's wake-up signal", .timeLimit(.minutes(5)))
struct WakeSignalTests {
    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    @Test("a signal given before the wait is kept and ends the next wait at once")
    func signalBeforeWait() async {
        let signal = WakeSignal()
        signal.signal()
        await signal.wait()
    }

    @Test("a wait ended by cancellation leaves the signal usable: the next wait still waits for a signal")
    func waitAfterCancellation() async {
        let signal = WakeSignal()
        // The conductor's pattern: wait on the signal beside a timer, cancel the loser.
        let cancelled = Task { await signal.wait() }
        cancelled.cancel()
        await cancelled.value

        let woken = Flag()
        let waiter = Task {
            await signal.wait()
            woken.set()
        }
        // Give the waiter every chance to (wrongly) return without a signal.
        for _ in 0..<1_000 { await Task.yield() }
        #expect(!woken.isSet, "a wait returned with no signal (the stream-based wake-up spun like this)")
        signal.signal()
        await waiter.value
        #expect(woken.isSet)
    }
}
