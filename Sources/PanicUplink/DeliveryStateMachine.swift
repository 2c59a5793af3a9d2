import PanicCore

/// The delivery logic of one backend, without I/O: events go in, actions come out, and the shell
/// (`BackendUplink`) carries them out. Modelled on Hummingbird's HTTP/2 connection state machine.
///
/// Two lanes run side by side, each with at most one request in flight:
/// - the **alert lane** carries urgent records (`RecordKind.isUrgent`: emergency, tamper, help and cleared;
///   `Outbox.claimUrgent`), backs off with `BackoffPolicy.alert`, and also polls for commands while an alert is
///   open;
/// - the **backlog lane** carries everything else (live positions first, then the backlog;
///   `Outbox.claimRoutine`), backing off with `BackoffPolicy.routine`.
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
        var inFlight = false
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
    private var random: SplitMix64

    public init(
        now: MonotonicInstant, alertPolicy: BackoffPolicy = .alert, routinePolicy: BackoffPolicy = .routine,
        pollInterval: Duration = .seconds(5), seed: UInt64
    ) {
        lanes = [LaneState(policy: alertPolicy), LaneState(policy: routinePolicy)]
        lastContact = now
        self.pollInterval = pollInterval
        random = SplitMix64(seed: seed)
    }

    /// Whether the lane has a request in flight.
    public func isInFlight(_ lane: Lane) -> Bool { lanes[lane.rawValue].inFlight }

    /// Consecutive failures of the lane.
    public func failures(_ lane: Lane) -> Int { lanes[lane.rawValue].failures }

    /// Whether nothing is in flight on any lane.
    public var isQuiet: Bool { !lanes.contains { $0.inFlight } }

    /// The earliest instant at which `tick` may have something to do (a backoff ending, a poll due), or nil.
    public var nextDeadline: MonotonicInstant? {
        var deadlines: [MonotonicInstant] = []
        for lane in lanes where !lane.inFlight && lane.hasWork {
            if let retryAt = lane.retryAt { deadlines.append(retryAt) }
        }
        if pollNeeded, !lanes[0].inFlight, !lanes[0].hasWork {
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

    /// A lane's request ended.
    public mutating func finished(_ lane: Lane, _ outcome: Outcome, now: MonotonicInstant) -> [Action] {
        var state = lanes[lane.rawValue]
        state.inFlight = false
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
        let backlogDeferred = alert.failures > 0 && (alert.hasWork || alert.inFlight)
        if backlogDeferred {
            var backlog = lanes[Lane.backlog.rawValue]
            // Only a backoff slot that has just come up is handed over, once: the alert lane keeps its own backoff.
            if backlog.hasWork, !backlog.inFlight, let retryAt = backlog.retryAt, retryAt <= now {
                backlog.retryAt = nil
                lanes[Lane.backlog.rawValue] = backlog
                if !alert.inFlight, let retryAt = alert.retryAt, retryAt > now {
                    lanes[Lane.alert.rawValue].retryAt = now
                }
            }
        }
        for lane in Lane.allCases {
            if lane == .backlog && backlogDeferred { continue }
            var state = lanes[lane.rawValue]
            guard !state.inFlight, state.hasWork else { continue }
            if let retryAt = state.retryAt, retryAt > now { continue }
            state.inFlight = true
            // The claim takes everything due; anything appended from now on sets `hasWork` again.
            state.hasWork = false
            lanes[lane.rawValue] = state
            actions.append(.send(lane))
        }
        let alertNow = lanes[Lane.alert.rawValue]
        if pollNeeded, !alertNow.inFlight, !alertNow.hasWork, lastContact.advanced(by: pollInterval) <= now,
            (alertNow.retryAt ?? now) <= now
        {
            lanes[Lane.alert.rawValue].inFlight = true
            actions.append(.poll)
        }
        return actions
    }
}
