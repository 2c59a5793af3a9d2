import PanicCore
import Synchronization

/// Watches a board's input lines and turns their edges into classified ``InputEvent``s.
///
/// The long-running shell around the pure ``InputClassifier``: it reads ``InputLines/edges()``, feeds each
/// edge in, and sleeps on the injected clock until the classifier's next deadline (hold, wire-cut, stuck).
/// Classified events come out of ``events``. ``run()`` returns when the lines' edge stream ends and throws
/// what the backend threw; cancelling it stops the watch.
public final class InputService: Sendable {
    /// The classified events, in time order. One consumer; it ends when ``run()`` returns.
    public let events: AsyncStream<InputEvent>
    private let continuation: AsyncStream<InputEvent>.Continuation
    private let lines: any InputLines
    private let clock: any MonotonicClock
    /// Each line's accepted (debounced, held) state, as the classifier last said.
    private let assertedNow = Mutex<[Bool]>([])
    private let watchState = Mutex<(started: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let start = Mutex<(state: [InputEvent], initialEvents: Int)>(([], 0))
    private let progress = Mutex<
        (sequence: UInt64, ended: Bool, waiters: [(UInt64, CheckedContinuation<Void, Never>)])
    >(
        (0, false, []))

    /// Watches `lines`, timing holds and faults on `clock` (``SystemMonotonicClock`` in the daemon, whose time
    /// base the kernel's edge timestamps share; ``ManualClock`` in tests).
    public init(lines: any InputLines, clock: any MonotonicClock) {
        self.lines = lines
        self.clock = clock
        (events, continuation) = AsyncStream.makeStream(of: InputEvent.self, bufferingPolicy: .unbounded)
    }

    /// Returns once ``run()`` has read the lines' starting state: edges from then on are classified as changes.
    public func watching() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let started = watchState.withLock { state in
                if !state.started { state.waiters.append(waiter) }
                return state.started
            }
            if started { waiter.resume() }
        }
    }

    /// The inputs' state when the watch started (``InputClassifier/startingState``: faults, tampers, power found
    /// absent, ignition found on), and how many of those ``events`` begins with (``InputClassifier/initialEvents``).
    /// Set before ``watching()`` returns.
    public var startingState: (events: [InputEvent], initialEventCount: Int) {
        start.withLock { ($0.state, $0.initialEvents) }
    }

    /// Returns once the edge numbered `sequence` (see ``EdgeEvent/sequence``) has been classified, or the watch
    /// has ended. A virtual-time script waits for it before moving the clock, so a timer never overtakes an edge.
    public func caughtUp(to sequence: UInt64) async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = progress.withLock { state in
                let done = state.ended || state.sequence >= sequence
                if !done { state.waiters.append((sequence, waiter)) }
                return done
            }
            if done { waiter.resume() }
        }
    }

    /// Whether the first line with `role` is asserted now as the classifier accepted it (e.g. the ignition is on);
    /// nil when the board has no such line or the watch has not read the lines yet.
    public func isAsserted(role: InputRole) -> Bool? {
        guard let index = lines.specs.firstIndex(where: { $0.role == role }) else { return nil }
        return assertedNow.withLock { $0.indices.contains(index) ? $0[index] : nil }
    }

    /// The sequence number of the last edge classified so far.
    public var classifiedThrough: UInt64 { progress.withLock { $0.sequence } }

    private func classified(through sequence: UInt64, ended: Bool = false) {
        let due = progress.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.sequence = max(state.sequence, sequence)
            state.ended = state.ended || ended
            let due = state.waiters.filter { state.ended || $0.0 <= state.sequence }.map(\.1)
            state.waiters.removeAll { state.ended || $0.0 <= state.sequence }
            return due
        }
        for waiter in due { waiter.resume() }
    }

    private enum Signal: Sendable {
        case edge(EdgeEvent)
        case deadline(UInt64)
        case finished((any Error)?)
    }

    /// Runs the watch until the lines' edge stream ends, the task is cancelled or the backend fails.
    public func run() async throws {
        defer {
            continuation.finish()
            classified(through: .max, ended: true)
        }
        let lines = self.lines
        var classifier = InputClassifier(
            specs: lines.specs, initiallyClosed: try lines.contactsClosed(), now: clock.now)
        start.withLock { $0 = (classifier.startingState, classifier.initialEvents.count) }
        for event in classifier.initialEvents { continuation.yield(event) }
        let snapshot = { (classifier: InputClassifier) in
            let states = classifier.specs.indices.map(classifier.isAsserted)
            self.assertedNow.withLock { $0 = states }
        }
        snapshot(classifier)
        let waiters = watchState.withLock { state in
            state.started = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }

        let (signals, signal) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .unbounded)
        var timer = DeadlineTimer(clock: clock)
        defer { timer.cancel() }
        let fire: @Sendable (UInt64) -> Void = { signal.yield(.deadline($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await edge in lines.edges() { signal.yield(.edge(edge)) }
                    signal.yield(.finished(nil))
                } catch {
                    signal.yield(.finished(error))
                }
            }
            timer.arm(classifier.nextDeadline, fire: fire)
            var failure: (any Error)?
            var lastEdge: UInt64 = 0
            loop: for await incoming in signals {
                let output: InputClassifier.Output
                switch incoming {
                case .edge(let edge):
                    lastEdge = edge.sequence
                    output = classifier.edge(line: edge.line, closed: edge.edge.closed, at: edge.timestamp)
                case .deadline(let generation):
                    guard timer.fired(generation) else { continue }
                    // Edges that had already happened come first: a deadline that fires late (the process was
                    // descheduled while a contact bounced) must not decide on a contact the kernel has newer
                    // edges for. They arrive next through `signals`, and each one re-arms the timer.
                    if let handed = lines.deliverQueued(), handed > lastEdge { continue }
                    output = Self.reconciled(&classifier, with: lines, at: clock.now)
                case .finished(let error):
                    failure = error
                    for event in classifier.advance(to: clock.now).events { continuation.yield(event) }
                    break loop
                }
                if !output.events.isEmpty { snapshot(classifier) }
                for event in output.events { continuation.yield(event) }
                if case .edge(let edge) = incoming { classified(through: edge.sequence) }
                timer.arm(output.nextDeadline, fire: fire)
            }
            group.cancelAll()
            if let failure { throw failure }
        }
        try Task.checkCancellation()
    }

    /// Moves the classifier to `now`, after checking each line's level against the last edge it saw. Libgpiod 1.6
    /// (the kernel's v1 uAPI) keeps 16 edges per line and drops the newest when that queue is full: after a long
    /// bounce the last edge delivered can be an opening while the contact has long closed again. A line reading
    /// other than its last edge, with no edge left in the queue, lost edges: it moved to what it reads now, at
    /// `now` (when it moved is not known; no earlier than its last edge, no later than now).
    private static func reconciled(
        _ classifier: inout InputClassifier, with lines: any InputLines, at now: MonotonicInstant
    ) -> InputClassifier.Output {
        var events: [InputEvent] = []
        if let levels = try? lines.contactsClosed(), levels.count == classifier.specs.count {
            for (index, closed) in levels.enumerated() where classifier.contactClosed(index) != closed {
                events += classifier.edge(line: index, closed: closed, at: now).events
            }
        }
        let output = classifier.advance(to: now)
        return InputClassifier.Output(events: events + output.events, nextDeadline: output.nextDeadline)
    }
}
