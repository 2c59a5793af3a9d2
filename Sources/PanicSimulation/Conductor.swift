import Foundation
import PanicCore
import Synchronization

/// Moves simulated time for a set of boxes. On the virtual clock it advances only when every box is idle (every
/// part waits for the clock) and feeds each box the receiver epochs of the seconds it skips, decoded before the
/// jump, so whatever wakes sees the fix the bus had then. In real time it waits on the system clock, pushing each
/// second's epoch as it comes, and wakes early when an interactive command arrives.
///
/// Used from one conductor task: not `Sendable`.
final class Conductor {
    let world: SimulationWorld
    /// The virtual clock (nil in real time).
    let manual: ManualClock?
    var boxes: [SimulatedBox] = []
    private let wakeSignal = WakeSignal()

    init(world: SimulationWorld, manual: ManualClock?) {
        self.world = world
        self.manual = manual
    }

    var elapsed: Duration { world.time.elapsed }
    var now: MonotonicInstant { world.time.clock.now }

    /// The earliest instant a box's own timer waits for (virtual clock only; in real time the timers wake by
    /// themselves).
    var nextDeadline: MonotonicInstant? { manual?.nextDeadline }

    /// Makes a waiting `advance` return early (an interactive command came in). Callable from any task.
    var waker: @Sendable () -> Void {
        let signal = wakeSignal
        return { signal.signal() }
    }

    /// Throws when a box's `panicd` stopped by itself: the run cannot go on meaningfully.
    func checkBoxes() throws {
        for box in boxes {
            if let failure = box.failure { throw SimulationError("\(box.name): panicd stopped: \(failure)") }
        }
    }

    /// Returns once every box has done what it can without time moving (virtual), or after a yield (real time);
    /// throws `CancellationError` when the run is cancelled.
    func settle() async throws {
        pushEpochs(upTo: now)
        if let manual {
            try await VirtualTime.settle(clock: manual) { boxes.contains { $0.isBusy } }
        } else {
            await Task.yield()
        }
    }

    /// Moves time on to `target` (virtual), or waits for it, for the next receiver epoch, or for a wake-up,
    /// whichever comes first (real time).
    func advance(to target: MonotonicInstant) async {
        guard target > now else { return }
        if let manual {
            pushEpochs(upTo: target)
            while boxes.contains(where: { !$0.hasDecodedEverything }) { await Task.yield() }
            manual.advance(to: target)
            return
        }
        let nextEpoch = boxes.map { $0.lastEpoch.advanced(by: .seconds(1)) }.min()
        let until = min(target, nextEpoch ?? target)
        let clock = world.time.clock
        let signal = wakeSignal
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: until, tolerance: .milliseconds(5)) }
            group.addTask { await signal.wait() }
            await group.next()
            group.cancelAll()
        }
        pushEpochs(upTo: now)
    }

    /// Lets time run for `duration` while the boxes work (the conductor's own waits, e.g. a button held down).
    func run(for duration: Duration, between: () async throws -> Void = {}) async throws {
        let until = now.advanced(by: duration)
        while now < until {
            try await settle()
            await advance(to: min(nextDeadline ?? until, until))
            try await between()
        }
    }

    private func pushEpochs(upTo target: MonotonicInstant) {
        for box in boxes { box.pushEpochs(upTo: target) }
    }
}

/// A wake-up that can be given before anyone waits (it is kept until taken) and whose wait ends on cancellation.
/// (An `AsyncStream` will not do: cancelling a task waiting in its `next()` finishes the stream for good.)
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Wakes the waiter, or the next one to wait.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when signalled (at once if a signal is pending) or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
