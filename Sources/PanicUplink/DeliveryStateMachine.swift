import PanicCore

/// The delivery logic of one backend, without I/O: events go in, actions come out, and the shell
/// (`BackendUplink`) carries them out. Modelled on Hummingbird's HTTP/2 connection state machine.
///
/// Two lanes run side by side:
/// - the **alert lane** carries urgent records (`RecordKind.isUrgent`: emergency, tamper, help and cleared;
///   `Outbox.claimUrgent`), one request at a time, backs off with `BackoffPolicy.alert`, and also polls for
///   commands while an alert is open;
/// - the **backlog lane** carries everything else (live positions first, then the backlog;
///   `Outbox.claimRoutine`), backing off with `BackoffPolicy.routine`. While the link works it keeps up to
///   `backlogWindow` batches in flight: a claim that came back full (`claimed(_:full:)`) says more is due, so the
///   next batch is claimed and sent while the earlier ones are still on the wire or being checked by the receiver.
///   Each batch is settled on its own answer, so acknowledgements may come back in any order. After a failure, and
///   while an alert is due or in flight, the lane adds no batch beyond one.
/// A fresh alert therefore never waits behind a backlog batch in flight, and it skips a pending backoff wait.
/// Success on either lane is evidence that the link is back, so it ends the other lane's backoff too.
public struct DeliveryStateMachine: Sendable {
    /// A lane of requests.
    public enum Lane: Int, Sendable, CaseIterable, CustomStringConvertible {
        case alert
        case backlog

        public var description: String { self == .alert ? "alert" : "backlog" }
    }

    /// What the shell must do.
    public enum Action: Sendable, Equatable {
        /// Claim a batch for the lane and send it.
        case send(Lane)
        /// Send an empty batch on the alert lane, to fetch commands (and deliver command acknowledgements).
        case poll
    }

    /// How a request ended.
    public enum Outcome: Sendable, Equatable {
        /// The server answered; `claimed` records went, `full` says whether the batch was full (more may wait).
        case delivered(claimed: Int, full: Bool)
        /// Nothing was due for the lane, so nothing was sent.
        case empty
        /// The request failed (connection, timeout, HTTP error, unreadable answer); the records are pending again.
        case failed
    }

    struct LaneState: Sendable {
        /// Requests in flight.
        var inFlight = 0
        /// Records may be due (unknown at start, so true).
        var hasWork = true
        var failures = 0
        var retryAt: MonotonicInstant?
        var policy: BackoffPolicy
    }

    private var lanes: [LaneState]
    private var pollNeeded = false
    private var lastContact: MonotonicInstant
    /// How often to poll for commands while an alert is open and nothing else is sent.
    public var pollInterval: Duration
    /// Most backlog batches in flight at once while the link works (at least 1).
    public let backlogWindow: Int
    private var random: SplitMix64

    public init(
        now: MonotonicInstant, alertPolicy: BackoffPolicy = .alert, routinePolicy: BackoffPolicy = .routine,
        pollInterval: Duration = .seconds(5), backlogWindow: Int = 1, seed: UInt64
    ) {
        lanes = [LaneState(policy: alertPolicy), LaneState(policy: routinePolicy)]
        lastContact = now
        self.pollInterval = pollInterval
        self.backlogWindow = max(1, backlogWindow)
        random = SplitMix64(seed: seed)
    }

    /// Whether the lane has a request in flight.
    public func isInFlight(_ lane: Lane) -> Bool { lanes[lane.rawValue].inFlight > 0 }

    /// How many requests the lane has in flight.
    public func inFlight(_ lane: Lane) -> Int { lanes[lane.rawValue].inFlight }

    /// How many requests the lane may have in flight now: the backlog lane its window while the link works and no
    /// alert is due or in flight (so the receiver has at most the batches already sent ahead of an alert), else 1.
    private func capacity(_ lane: Lane) -> Int {
        guard lane == .backlog, lanes[lane.rawValue].failures == 0 else { return 1 }
        let alert = lanes[Lane.alert.rawValue]
        return alert.hasWork || alert.inFlight > 0 ? 1 : backlogWindow
    }

    /// Consecutive failures of the lane.
    public func failures(_ lane: Lane) -> Int { lanes[lane.rawValue].failures }

    /// Whether nothing is in flight on any lane.
    public var isQuiet: Bool { !lanes.contains { $0.inFlight > 0 } }

    /// The earliest instant at which `tick` may have something to do (a backoff ending, a poll due), or nil.
    public var nextDeadline: MonotonicInstant? {
        var deadlines: [MonotonicInstant] = []
        for lane in Lane.allCases {
            let state = lanes[lane.rawValue]
            if state.inFlight < capacity(lane), state.hasWork, let retryAt = state.retryAt { deadlines.append(retryAt) }
        }
        if pollNeeded, lanes[0].inFlight == 0, !lanes[0].hasWork {
            deadlines.append(max(lastContact.advanced(by: pollInterval), lanes[0].retryAt ?? lastContact))
        }
        return deadlines.min()
    }

    /// Starts delivery: both lanes look for work.
    public mutating func start(now: MonotonicInstant) -> [Action] { due(now: now) }

    /// Records were committed to the outbox. `urgent` for alerts and cleared records: the alert lane skips its
    /// backoff wait for them (a new press deserves an attempt now).
    public mutating func recordsAppended(urgent: Bool, now: MonotonicInstant) -> [Action] {
        let lane = urgent ? Lane.alert : .backlog
        lanes[lane.rawValue].hasWork = true
        if urgent { lanes[lane.rawValue].retryAt = nil }
        return due(now: now)
    }

    /// Whether commands are expected (an alert is open): the alert lane polls while idle.
    public mutating func setPollNeeded(_ needed: Bool, now: MonotonicInstant) -> [Action] {
        pollNeeded = needed
        return due(now: now)
    }

    /// Time passed (a timer the shell set for `nextDeadline` fired).
    public mutating func tick(now: MonotonicInstant) -> [Action] { due(now: now) }

    /// A lane's request has claimed its records and is about to send them; `full` says the claim took a whole
    /// batch, so more may be due: the backlog lane claims the next batch now if its window allows.
    public mutating func claimed(_ lane: Lane, full: Bool, now: MonotonicInstant) -> [Action] {
        if full { lanes[lane.rawValue].hasWork = true }
        return due(now: now)
    }

    /// A lane's request ended.
    public mutating func finished(_ lane: Lane, _ outcome: Outcome, now: MonotonicInstant) -> [Action] {
        var state = lanes[lane.rawValue]
        state.inFlight = max(0, state.inFlight - 1)
        switch outcome {
        case .delivered(_, let full):
            state.failures = 0
            state.retryAt = nil
            if full { state.hasWork = true }
            lastContact = now
            // The link works: the other lane need not wait out its backoff.
            for other in lanes.indices where other != lane.rawValue && lanes[other].failures > 0 {
                lanes[other].retryAt = nil
                lanes[other].failures = 0
            }
        case .empty:
            break
        case .failed:
            state.failures += 1
            state.hasWork = true
            state.retryAt = now.advanced(by: state.policy.delay(afterFailures: state.failures, using: &random))
        }
        lanes[lane.rawValue] = state
        return due(now: now)
    }

    private mutating func due(now: MonotonicInstant) -> [Action] {
        var actions: [Action] = []
        // Alerts first after an outage: while the alert lane is retrying undelivered work, the backlog lane
        // sends nothing; when its own retry comes up first, the alert lane goes in its place. The first request
        // to get through therefore carries the alerts, and its success releases the backlog.
        let alert = lanes[Lane.alert.rawValue]
        let backlogDeferred = alert.failures > 0 && (alert.hasWork || alert.inFlight > 0)
        if backlogDeferred {
            var backlog = lanes[Lane.backlog.rawValue]
            // Only a backoff slot that has just come up is handed over, once: the alert lane keeps its own backoff.
            if backlog.hasWork, backlog.inFlight == 0, let retryAt = backlog.retryAt, retryAt <= now {
                backlog.retryAt = nil
                lanes[Lane.backlog.rawValue] = backlog
                if alert.inFlight == 0, let retryAt = alert.retryAt, retryAt > now {
                    lanes[Lane.alert.rawValue].retryAt = now
                }
            }
        }
        for lane in Lane.allCases {
            if lane == .backlog && backlogDeferred { continue }
            var state = lanes[lane.rawValue]
            guard state.inFlight < capacity(lane), state.hasWork else { continue }
            if let retryAt = state.retryAt, retryAt > now { continue }
            state.inFlight += 1
            // The claim takes everything due; anything appended from now on sets `hasWork` again.
            state.hasWork = false
            lanes[lane.rawValue] = state
            actions.append(.send(lane))
        }
        let alertNow = lanes[Lane.alert.rawValue]
        if pollNeeded, alertNow.inFlight == 0, !alertNow.hasWork, lastContact.advanced(by: pollInterval) <= now,
            (alertNow.retryAt ?? now) <= now
        {
            lanes[Lane.alert.rawValue].inFlight += 1
            actions.append(.poll)
        }
        return actions
    }
}
