/// What a backend is to the box's alerts (`role:` in panicd.yaml).
public enum BackendRole: String, Sendable, Hashable, CaseIterable, Codable {
    /// An alerting authority: the police control room (PanicBridge's by default), or a state AIS-140 backend
    /// configured as the one that dispatches help. Its acknowledgement of an alert is what makes the LED say SENT.
    case authority
    /// A tracking server (Traccar over OsmAnd, an AIS-140 tracking backend, a fleet dashboard): it gets every
    /// record, but its acknowledgement says only that a server stored it, not that anyone will come.
    case tracking
}

/// What the box shows the person at it: the one rule behind the LED and buzzer, decided from every open alert,
/// the inputs and delivery. Pure: the daemon shell keeps the situation and carries out what this returns.
///
/// In order:
/// 1. An alert the box cannot deliver for a reason a resend will not fix (a control room refusing it) shows
///    `fault`: she must not be told it was sent.
/// 2. An alert the box could not commit yet (the card is full: it is held in memory and retried) shows
///    `notStoredFull`: she must not be told it is safe from a power cut.
/// 3. Open alerts show their progress, an emergency above a help request; of several, the one least far along
///    (stored → sent → help on the way): the LED never says more than is true of every open alert of that kind.
/// 4. `cleared` only when no alert is open any more (shown briefly, then back to armed).
/// 5. Otherwise an input fault (cut loop, stuck button) shows `fault`, else `armed`.
///
/// Tamper alerts are for the maintenance desk: they do not light the LED.
public enum IndicatorPolicy {
    /// An alert the box has not seen cleared, with the last state it knows of.
    public struct OpenAlert: Sendable, Hashable, Codable {
        public var kind: RecordKind
        public var state: AlertState

        public init(kind: RecordKind, state: AlertState) {
            self.kind = kind
            self.state = state
        }
    }

    /// Everything the LED depends on.
    public struct Situation: Sendable, Equatable {
        /// Open alerts by id (cleared ones are removed).
        public var alerts: [String: OpenAlert]
        /// Whether an input is faulty (a cut loop, a stuck button).
        public var inputFault: Bool
        /// Alerts a backend refused for a reason a resend will not fix.
        public var undeliverable: Set<String>
        /// Alerts made but not committed yet (a full card holds them in memory), by id.
        public var held: [String: RecordKind]

        public init(
            alerts: [String: OpenAlert] = [:], inputFault: Bool = false, undeliverable: Set<String> = [],
            held: [String: RecordKind] = [:]
        ) {
            self.alerts = alerts
            self.inputFault = inputFault
            self.undeliverable = undeliverable
            self.held = held
        }

        /// Follows an alert's transition: stored, sent, acknowledged update it; cleared removes it. A committed
        /// alert is no longer held.
        public mutating func apply(_ transition: AlertTransition) {
            guard transition.kind == .emergency || transition.kind == .help else { return }
            held[transition.alert] = nil
            if transition.to == .cleared {
                alerts[transition.alert] = nil
                undeliverable.remove(transition.alert)
            } else {
                alerts[transition.alert] = OpenAlert(kind: transition.kind, state: transition.to)
            }
        }
    }

    /// What to show. `justCleared`: an alert was cleared by the step that led here.
    public static func show(_ situation: Situation, justCleared: Bool = false) -> IndicatorState {
        let lit = situation.alerts.filter { $0.value.kind == .emergency || $0.value.kind == .help }
        if lit.keys.contains(where: situation.undeliverable.contains) { return .fault }
        if situation.held.values.contains(where: { $0 == .emergency || $0 == .help }) { return .notStoredFull }
        let lead =
            lit.values.filter { $0.kind == .emergency }.isEmpty
            ? Array(lit.values)
            : lit.values.filter {
                $0.kind == .emergency
            }
        if let least = lead.map(\.state).min() {
            switch least {
            case .stored: return .stored
            case .sent: return .sent
            case .acknowledged: return .helpOnTheWay
            case .dispatched: return .helpDispatched
            case .onScene: return .helpOnScene
            case .cleared: break
            }
        }
        if justCleared { return .cleared }
        return situation.inputFault ? .fault : .armed
    }

    /// Whether a backend's acknowledgement of an alert record may move the alert to `sent`: only an alerting
    /// authority's. A tracking server's `200` says a server stored a position, not that the police have the alert;
    /// the LED must not say SENT on it.
    public static func acknowledgementCounts(from role: BackendRole) -> Bool { role == .authority }
}
