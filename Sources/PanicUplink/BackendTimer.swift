import PanicCore
import Synchronization

/// A backend's one timer: it sleeps on the injected clock until the delivery machine's next deadline (a backoff
/// ending, a heartbeat or a command poll due) and nothing else. A deadline that moves — later, when a delivery
/// pushed the AIS-140 heartbeat back; earlier; or away — cancels the armed sleep at once, so a lane with nothing to
/// send wakes the box only when something is due (docs/daemon.md → *Backends that sleep*).
///
/// The shell calls `set` after every event with `DeliveryStateMachine.nextDeadline`, and `stop` when it ends. As
/// `DeadlineTimer` (PanicHardware) does, the sleep is a task of its own on the clock's executor, so that it can be
/// cancelled alone; unlike it, a later deadline replaces the armed sleep instead of letting it fire early.
final class BackendTimer: Sendable {
    private struct State {
        var deadline: MonotonicInstant?
        var sleep: Task<Void, Never>?
        var stopped = false
    }

    private let state = Mutex(State())
    private let clock: any MonotonicClock
    private let fire: @Sendable () -> Void

    init(clock: any MonotonicClock, fire: @escaping @Sendable () -> Void) {
        self.clock = clock
        self.fire = fire
    }

    /// The deadline to fire at (nil: none). Setting the one already armed changes nothing.
    func set(_ deadline: MonotonicInstant?) {
        let clock = clock
        let fire = fire
        let replaced = state.withLock { state -> Task<Void, Never>? in
            guard !state.stopped, state.deadline != deadline else { return nil }
            let old = state.sleep
            state.deadline = deadline
            state.sleep = deadline.map { deadline in
                // An unstructured task inherits no executor preference: it takes the clock's (the daemon's loop).
                Task(executorPreference: clock.preferredExecutor) { [weak self] in
                    do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
                    self?.fired(deadline)
                    fire()
                }
            }
            return old
        }
        replaced?.cancel()
    }

    /// The sleep for `deadline` ended: nothing is armed until the next `set`.
    private func fired(_ deadline: MonotonicInstant) {
        state.withLock { state in
            if state.deadline == deadline {
                state.deadline = nil
                state.sleep = nil
            }
        }
    }

    /// Cancels the armed sleep for good (the backend stopped).
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.deadline = nil
            defer { state.sleep = nil }
            return state.sleep
        }?.cancel()
    }
}
