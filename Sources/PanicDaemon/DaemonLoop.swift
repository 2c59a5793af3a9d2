import NIOCore
import NIOPosix
import PanicCore
import Synchronization

/// The daemon's one thread. Swift's global executor on Linux wakes several pool threads for every resumed task
/// (a bare 1 Hz `Task.sleep` loop measured ~9 context switches a second here, a timerfd loop 1): an idle box would
/// spend its battery waking threads. Every task of `panicd run` therefore runs on one NIO event loop — as its task
/// executor — and sleeps on that loop's own timer, so a deadline costs one wake of one thread. Blocking work (a
/// commit's fdatasync) runs on it too, one thing at a time, as the box's work already is, and so does the network
/// I/O of the backends and the local sockets (``eventLoopGroup``): an answer wakes the thread that waits for it, no
/// other. (`make bench-idle` measures it beside gpsd, with no backend and with two.)
public final class DaemonLoop: TaskExecutor, Sendable {
    let group: MultiThreadedEventLoopGroup
    /// The loop every task runs on.
    public let loop: any EventLoop
    /// Sleepers with slack (``LoopClock``'s `tolerance`), by id: each is woken by the first job the loop runs at or
    /// after its deadline, so a periodic check rides on a wake the loop has anyway (the GNSS epoch) instead of
    /// costing one of its own; its own timer, at deadline + tolerance, is only the fallback.
    private let slackSleepers = Mutex<(next: UInt64, waiting: [UInt64: SlackSleeper])>((0, [:]))

    struct SlackSleeper {
        var deadline: MonotonicInstant
        var wake: @Sendable () -> Void
    }

    public init() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
            self.wakeDueSleepers()
        }
    }

    /// Wakes the slack sleepers whose deadline has passed (they resume in this same turn of the loop).
    private func wakeDueSleepers() {
        let due = slackSleepers.withLock { state -> [SlackSleeper] in
            guard !state.waiting.isEmpty else { return [] }
            let now = SystemMonotonicClock().now
            let due = state.waiting.filter { $0.value.deadline <= now }
            for id in due.keys { state.waiting[id] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.wake() }
    }

    func addSlackSleeper(deadline: MonotonicInstant, wake: @escaping @Sendable () -> Void) -> UInt64 {
        slackSleepers.withLock { state in
            state.next &+= 1
            state.waiting[state.next] = SlackSleeper(deadline: deadline, wake: wake)
            return state.next
        }
    }

    func removeSlackSleeper(_ id: UInt64) { _ = slackSleepers.withLock { $0.waiting.removeValue(forKey: id) } }

    /// Runs `body` with every task it starts on the loop.
    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self) { try await body() }
    }

    /// Runs `body` on the loop from synchronous code (a synchronous `main`), blocking the calling thread until it
    /// returns, then stops the loop's thread. Unlike an async `main`, nothing here touches libdispatch: an async
    /// `main` hops to the global executor, whose first dispatch worker thread starts libdispatch's worker-pool
    /// monitor, a timer that wakes the process every second for as long as it lives.
    public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let promise = loop.makePromise(of: T.self)
        // Enqueued straight onto the loop (its preferred executor), never onto the global executor.
        Task(executorPreference: self) {
            do { promise.succeed(try await body()) } catch { promise.fail(error) }
        }
        defer { try? group.syncShutdownGracefully() }
        return try promise.futureResult.wait()
    }

    /// The loop as an event-loop group, for the daemon's network I/O (its backends' connections, its local sockets):
    /// on the same thread as the tasks waiting on it, an answer wakes one thread once.
    public var eventLoopGroup: any EventLoopGroup { loop }

    /// Stops the loop's thread (after `run` returned).
    public func shutdown() async throws { try await group.shutdownGracefully() }

    /// The system's monotonic clock, sleeping on the loop's timer.
    public var clock: LoopClock { LoopClock(loop: loop, executor: self) }
}

/// `CLOCK_MONOTONIC` (as `SystemMonotonicClock`), with sleeps scheduled on an event loop: the loop's timerfd
/// wakes the loop's thread, which resumes the sleeper on the same thread. A sleep with a `tolerance` of at least
/// ``slackThreshold`` is woken by the loop's first job at or after its deadline, or by its own timer at deadline +
/// tolerance, whichever comes first (timer slack: it shares another wake instead of making one).
public struct LoopClock: MonotonicClock {
    let loop: any EventLoop
    let executor: DaemonLoop
    private let system = SystemMonotonicClock()

    /// Tolerances below this are ignored (the sleep wakes at its deadline).
    public static let slackThreshold: Duration = .milliseconds(100)

    public var preferredExecutor: (any TaskExecutor)? { executor }

    public var now: MonotonicInstant { system.now }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        let remaining = now.duration(to: deadline)
        guard remaining > .zero else { return }
        let slack = tolerance.flatMap { $0 >= Self.slackThreshold ? $0 : nil }
        // The scheduled wake-up, the slack registration, and whether the sleeper was resumed (by its timer, by
        // another wake of the loop, or by cancellation: whoever takes the continuation).
        let pending = Mutex<
            (task: Scheduled<Void>?, slackID: UInt64?, continuation: CheckedContinuation<Void, any Error>?)
        >((nil, nil, nil))
        let executor = self.executor
        let wake: @Sendable () -> Void = {
            let (task, slackID, continuation) = pending.withLock { state in
                (state.task, state.slackID, state.continuation.take())
            }
            guard let continuation else { return }
            task?.cancel()
            if let slackID { executor.removeSlackSleeper(slackID) }
            continuation.resume()
        }
        try await withTaskCancellationHandler {
            try Task.checkCancellation()
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let task = loop.scheduleTask(in: .nanoseconds((remaining + (slack ?? .zero)).nanosecondsClamped)) {
                    wake()
                }
                let cancelledMeanwhile = pending.withLock { state -> Bool in
                    state.task = task
                    state.continuation = continuation
                    return Task.isCancelled
                }
                if let slack, slack > .zero, !cancelledMeanwhile {
                    let id = executor.addSlackSleeper(deadline: deadline, wake: wake)
                    pending.withLock { $0.slackID = id }
                }
                if cancelledMeanwhile {
                    task.cancel()
                    pending.withLock { $0.continuation.take() }?.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let (task, slackID, continuation) = pending.withLock { state in
                (state.task, state.slackID, state.continuation.take())
            }
            task?.cancel()
            if let slackID { executor.removeSlackSleeper(slackID) }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
