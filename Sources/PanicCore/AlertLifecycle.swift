/// Where an alert stands, as the person at the box sees it on the LED and buzzer. States only move forward.
public enum AlertState: String, Sendable, Codable, CaseIterable, Comparable {
    /// Signed and committed in the outbox: it survives a power cut.
    case stored
    /// An alerting authority (the control room) confirmed it has the record; a tracking server's answer does not
    /// count (`IndicatorPolicy.acknowledgementCounts(from:)`).
    case sent
    /// The control room accepted it: help is on the way.
    case acknowledged
    /// A responder has been dispatched to it.
    case dispatched
    /// A responder is on scene.
    case onScene = "on-scene"
    /// The control room cleared it (only the control room may clear an emergency, as AIS-140 requires).
    case cleared

    private var rank: Int {
        switch self {
        case .stored: 0
        case .sent: 1
        case .acknowledged: 2
        case .dispatched: 3
        case .onScene: 4
        case .cleared: 5
        }
    }

    public static func < (lhs: AlertState, rhs: AlertState) -> Bool { lhs.rank < rhs.rank }
}

/// One change of an alert's state, for the indicator and the log.
public struct AlertTransition: Sendable, Hashable, CustomStringConvertible {
    /// The alert's record id (its UUID).
    public var alert: String
    /// The alert's kind (emergency, help or tamper).
    public var kind: RecordKind
    /// The state before, nil when the alert was just stored.
    public var from: AlertState?
    /// The state after.
    public var to: AlertState

    public init(alert: String, kind: RecordKind, from: AlertState?, to: AlertState) {
        self.alert = alert
        self.kind = kind
        self.from = from
        self.to = to
    }

    public var description: String { "\(kind.rawValue) \(alert): \(from?.rawValue ?? "new") → \(to.rawValue)" }
}

/// The lifecycle of the box's alerts: stored → sent → acknowledged (help on the way) → dispatched → on scene →
/// cleared. The two responder stages may be skipped (a control room without dispatch clears after accepting).
///
/// Pure: every method takes an event and returns the transition it caused, or nil when the event changes
/// nothing (a state never moves backward, so a late delivery after an acknowledgement is a no-op).
public struct AlertLifecycle: Sendable, Equatable {
    /// One tracked alert.
    public struct Entry: Sendable, Equatable {
        public var kind: RecordKind
        public var state: AlertState
    }

    /// Every tracked alert by record id.
    public private(set) var alerts: [String: Entry] = [:]
    /// Cleared alerts in the order they were cleared; the oldest are forgotten beyond `clearedMemory`.
    private var clearedOrder: [String] = []
    /// How many cleared alerts are remembered (so a late command for one is recognised as stale).
    public var clearedMemory: Int

    public init(clearedMemory: Int = 64) { self.clearedMemory = clearedMemory }

    /// The state of `alert`, nil when it is not known.
    public func state(of alert: String) -> AlertState? { alerts[alert]?.state }

    /// Alerts not yet cleared, by record id (sorted, for stable output).
    public var openAlerts: [String] { alerts.filter { $0.value.state != .cleared }.keys.sorted() }

    /// An alert record was committed to the outbox — or, after a restart, an alert still open is followed again
    /// from the last state the box saved for it (`state`: an accepted alert is still accepted).
    public mutating func stored(alert: String, kind: RecordKind, state: AlertState = .stored) -> AlertTransition? {
        guard kind.isAlert, alerts[alert] == nil, state != .cleared else { return nil }
        alerts[alert] = Entry(kind: kind, state: state)
        return AlertTransition(alert: alert, kind: kind, from: nil, to: state)
    }

    /// A backend with `role` confirmed it has the alert's record: only an authority's confirmation moves it to
    /// `sent`.
    public mutating func delivered(alert: String, by role: BackendRole = .authority) -> AlertTransition? {
        guard IndicatorPolicy.acknowledgementCounts(from: role) else { return nil }
        return advance(alert, to: .sent)
    }

    /// A verified `accept` command from the control room arrived.
    public mutating func acknowledged(alert: String) -> AlertTransition? { advance(alert, to: .acknowledged) }

    /// A verified command from the control room arrived: the alert moves to the command's target state (a stage
    /// never moves it back: an `accept` arriving after a `dispatch` changes nothing).
    public mutating func commanded(_ action: CommandAction, alert: String) -> AlertTransition? {
        action == .clear ? cleared(alert: alert) : advance(alert, to: action.target)
    }

    /// A verified `clear` command from the control room arrived.
    public mutating func cleared(alert: String) -> AlertTransition? {
        let transition = advance(alert, to: .cleared)
        if transition != nil {
            clearedOrder.append(alert)
            while clearedOrder.count > clearedMemory { alerts[clearedOrder.removeFirst()] = nil }
        }
        return transition
    }

    private mutating func advance(_ alert: String, to state: AlertState) -> AlertTransition? {
        guard var entry = alerts[alert], entry.state < state else { return nil }
        let from = entry.state
        entry.state = state
        alerts[alert] = entry
        return AlertTransition(alert: alert, kind: entry.kind, from: from, to: state)
    }
}
