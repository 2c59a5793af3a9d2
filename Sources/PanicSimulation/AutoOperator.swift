import ControlRoomKit
import PanicConfig

/// The operator the simulator plays when a scenario or fleet says so: accepts each alert a while after it shows
/// up, then clears it.
struct AutoOperator {
    struct Due {
        var at: Duration
        var action: BoxAction.OperatorAction
        var device: String
        var alert: String
    }

    var acceptAfter: Duration?
    var clearAfter: Duration?
    private(set) var queue: [Due] = []

    init(acceptAfter: Duration?, clearAfter: Duration?) {
        self.acceptAfter = acceptAfter
        self.clearAfter = clearAfter
    }

    /// Plans the answer to a newly arrived alert (tamper reports are for the maintenance desk: not answered).
    mutating func saw(_ alert: AlertView, at now: Duration) {
        guard let acceptAfter, alert.kind != "tamper" else { return }
        queue.append(Due(at: now + acceptAfter, action: .accept, device: alert.device, alert: alert.id))
        if let clearAfter {
            queue.append(Due(at: now + acceptAfter + clearAfter, action: .clear, device: alert.device, alert: alert.id))
        }
    }

    /// Takes what is due by `now`.
    mutating func due(at now: Duration) -> [Due] {
        let due = queue.filter { $0.at <= now }
        queue.removeAll { $0.at <= now }
        return due
    }

    /// When the next planned action is due.
    var next: Duration? { queue.map(\.at).min() }
}
