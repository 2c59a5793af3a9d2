import PanicCore

/// The one timer a state-machine shell needs: sleeps on the injected clock until the machine's next deadline.
///
/// Re-arming for a later deadline keeps the armed sleep (it fires early and the shell simply re-arms), so a storm
/// of edges that keeps pushing the deadline back costs one timer, not one per edge. Re-arming for an earlier one
/// cancels the armed sleep. Each firing carries a generation, and ``fired(_:)`` tells stale firings apart.
public struct DeadlineTimer {
    private var task: Task<Void, Never>?
    private var armed: MonotonicInstant?
    private var generation: UInt64 = 0
    let clock: any MonotonicClock

    public init(clock: any MonotonicClock) { self.clock = clock }

    /// Makes sure a firing happens at or before `deadline`; `fire` is called with the firing's generation.
    public mutating func arm(_ deadline: MonotonicInstant?, fire: @escaping @Sendable (UInt64) -> Void) {
        guard let deadline else { return }
        if let armed, armed <= deadline { return }
        task?.cancel()
        generation &+= 1
        armed = deadline
        let clock = clock
        let generation = generation
        // An unstructured task inherits no executor preference: it takes the clock's, so it wakes on the clock's thread.
        task = Task(executorPreference: clock.preferredExecutor) {
            do {
                try await clock.sleep(until: deadline, tolerance: nil)
                fire(generation)
            } catch {
                // Cancelled: a nearer deadline replaced this one, or the shell stopped.
            }
        }
    }

    /// Whether a firing of `generation` is the current one (and, if so, marks the timer as unarmed).
    public mutating func fired(_ generation: UInt64) -> Bool {
        guard generation == self.generation, armed != nil else { return false }
        armed = nil
        task = nil
        return true
    }

    public mutating func cancel() {
        task?.cancel()
        task = nil
        armed = nil
    }
}
