/// What the box shows the person at it: the one rule behind the LED and buzzer, decided from every open alert,
/// the inputs and delivery. Pure: the daemon shell keeps the situation and carries out what this returns.
///
/// In order:
/// 1. An alert the box cannot deliver for a reason a resend will not fix (a control room refusing it) shows
///    `fault`: she must not be told it was sent.
/// 2. Open alerts show their progress, an emergency above a help request; of several, the one least far along
///    (stored → sent → help on the way): the LED never says more than is true of every open alert of that kind.
/// 3. `cleared` only when no alert is open any more (shown briefly, then back to armed).
/// 4. Otherwise an input fault (cut loop, stuck button) shows `fault`, else `armed`.
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

        public init(alerts: [String: OpenAlert] = [:], inputFault: Bool = false, undeliverable: Set<String> = []) {
            self.alerts = alerts
            self.inputFault = inputFault
            self.undeliverable = undeliverable
        }

        /// Follows an alert's transition: stored, sent, acknowledged update it; cleared removes it.
        public mutating func apply(_ transition: AlertTransition) {
            guard transition.kind == .emergency || transition.kind == .help else { return }
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
}
