import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point on the monotonic timeline (Linux `CLOCK_MONOTONIC`), the one time base the whole daemon shares:
/// kernel GPIO event timestamps, timers and fix ages are all measured on it, so they compare directly.
public struct MonotonicInstant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
    /// Time since the clock's origin (boot, for the system clock; zero, for a manual clock).
    public var sinceOrigin: Duration

    public init(sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }

    public static let zero = MonotonicInstant(sinceOrigin: .zero)

    public func advanced(by duration: Duration) -> MonotonicInstant { .init(sinceOrigin: sinceOrigin + duration) }
    public func duration(to other: MonotonicInstant) -> Duration { other.sinceOrigin - sinceOrigin }
    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.sinceOrigin < rhs.sinceOrigin }

    public var description: String {
        let ms = sinceOrigin.milliseconds
        return "t+\(ms / 1000).\(String(ms % 1000).leftPadded(to: 3))s"
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// The clock every service takes: real in the product, manual in tests and in the virtual-time simulator.
/// Use it as `any MonotonicClock` or as a generic constraint.
public protocol MonotonicClock: Clock, Sendable where Instant == MonotonicInstant {
    /// The executor that tasks started for this clock's timers should prefer (nil: the global one). The daemon's
    /// clock names its one thread, so a timer's task runs where its sleep wakes (see PanicDaemon's `DaemonLoop`).
    var preferredExecutor: (any TaskExecutor)? { get }
}

extension MonotonicClock {
    public var preferredExecutor: (any TaskExecutor)? { nil }
}

extension MonotonicClock {
    /// Sleeps for `duration` on this clock.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now.advanced(by: duration), tolerance: nil)
    }
}

/// The system's `CLOCK_MONOTONIC`, which libgpiod's event timestamps also use.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}

    public var now: MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(sinceOrigin: .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec))
    }

    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        let remaining = now.duration(to: deadline)
        if remaining > .zero { try await Task.sleep(for: remaining, tolerance: tolerance, clock: .suspending) }
    }
}

/// A clock that moves only when told to: tests and the virtual-time simulator advance it, and every sleeper
/// whose deadline has passed wakes in deadline order. A 24-hour outage takes as long as its events take.
public final class ManualClock: MonotonicClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: MonotonicInstant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: MonotonicInstant
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var cancelled: Set<UInt64> = []
    }

    private let state: Mutex<State>

    public init(now: MonotonicInstant = .zero) { state = Mutex(State(now: now)) }

    public var now: MonotonicInstant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are sleeping on this clock; tests wait for it to reach a number before advancing.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline anyone sleeps until, so a simulator can jump straight to the next event.
    public var nextDeadline: MonotonicInstant? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    public func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                if let index = state.sleepers.firstIndex(where: { $0.id == id }) {
                    return state.sleepers.remove(at: index)
                }
                state.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward by `duration`, waking every sleeper whose deadline is reached, earliest first.
    public func advance(by duration: Duration) {
        advance(to: now.advanced(by: duration))
    }

    /// Moves time forward to `instant` (never backward), waking every sleeper whose deadline is reached.
    public func advance(to instant: MonotonicInstant) {
        let due = state.withLock { state -> [Sleeper] in
            if instant > state.now { state.now = instant }
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
