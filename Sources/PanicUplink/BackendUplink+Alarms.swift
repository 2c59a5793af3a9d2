import Logging
import PanicCore

/// Loud failure: a backend that keeps failing or refusing, commands that keep failing their checks, and alerts
/// refused for good each raise an `UplinkFault` — logged at error with the reason, in `Uplink.faults` (and so in the
/// box's health record) and on `Uplink.events` — instead of showing only as a count at stop.
extension BackendUplink {
    struct Alarms: Sendable {
        var delivery = DeliveryAlarm(threshold: 3)
        var commands = DeliveryAlarm(threshold: 3)
        /// Faults raised now, by name.
        var faults: [String: UplinkFault] = [:]
        /// Alerts this backend refuses for good (by sequence), with the reason.
        var refused: [Int64: RejectionReason] = [:]
    }

    /// The faults this backend has raised now.
    var faults: [UplinkFault] { alarms.withLock { Array($0.faults.values) } }

    func deliveryFailed(reason: String) {
        let fault = UplinkFault.backendFailing(backend: configuration.name, reason: reason)
        let action = alarms.withLock { alarms -> DeliveryAlarm.Action? in
            let action = alarms.delivery.failed()
            if case .raise = action {
                alarms.faults = alarms.faults.filter { !isDeliveryFault($0.value) }
                alarms.faults[fault.description] = fault
            }
            return action
        }
        switch action {
        case .raise(let count):
            logger.error(
                "backend keeps failing: nothing gets through",
                metadata: ["fault": "\(fault)", "reason": "\(reason)", "attempts": "\(count)"])
            eventSink.yield(.fault(fault))
        case .repeatWarning(let count):
            logger.warning(
                "backend still failing", metadata: ["fault": "\(fault)", "reason": "\(reason)", "attempts": "\(count)"])
        case .clear, nil: break
        }
    }

    func deliverySucceeded() {
        let cleared = alarms.withLock { alarms -> [UplinkFault] in
            guard alarms.delivery.succeeded() == .clear else { return [] }
            let cleared = alarms.faults.values.filter(isDeliveryFault)
            alarms.faults = alarms.faults.filter { !isDeliveryFault($0.value) }
            return cleared
        }
        for fault in cleared {
            logger.notice("backend takes records again", metadata: ["fault": "\(fault)"])
            eventSink.yield(.faultCleared(fault))
        }
    }

    /// Follows what the command checks said: a run of answers with refusals for a reason that points at a
    /// misconfiguration (forged: a wrongly pinned key; no pinned key; another device; expired: clocks the learnt
    /// offset does not reconcile) raises a fault.
    func commandsChecked(_ handled: AlertDesk.Handled) {
        guard let refusal = handled.misconfigured.last else {
            if handled.accepted > 0 {
                let cleared = alarms.withLock { alarms -> UplinkFault? in
                    guard alarms.commands.succeeded() == .clear else { return nil }
                    let fault = alarms.faults.values.first { if case .commandsRefused = $0 { true } else { false } }
                    if let fault { alarms.faults[fault.description] = nil }
                    return fault
                }
                if let cleared {
                    logger.notice("commands verify again", metadata: ["fault": "\(cleared)"])
                    eventSink.yield(.faultCleared(cleared))
                }
            }
            return
        }
        let fault = UplinkFault.commandsRefused(backend: configuration.name, reason: "\(refusal)")
        // One failure per answer, however many commands it carried: a flood of forged ones is one more failure.
        var actions: [DeliveryAlarm.Action] = []
        alarms.withLock { alarms in
            if let action = alarms.commands.failed() { actions.append(action) }
            if actions.contains(where: { if case .raise = $0 { true } else { false } }) {
                alarms.faults[fault.description] = fault
            }
        }
        for action in actions {
            switch action {
            case .raise(let count):
                logger.error(
                    "commands from the backend keep failing their checks: operator actions cannot reach the box",
                    metadata: ["fault": "\(fault)", "reason": "\(refusal)", "refused": "\(count)"])
                eventSink.yield(.fault(fault))
            case .repeatWarning(let count):
                logger.warning(
                    "commands still refused",
                    metadata: ["fault": "\(fault)", "reason": "\(refusal)", "refused": "\(count)"])
            case .clear: break
            }
        }
    }

    /// Alerts refused for a reason a resend will not fix: tracked as undeliverable (the box shows a fault), logged
    /// at error the first time, and raised as a fault until the backend takes them.
    func alertsRefused(_ refused: [(Int64, RejectionReason)]) {
        let (fresh, cleared) = alarms.withLock { alarms -> ([(Int64, RejectionReason)], [UplinkFault]) in
            let fresh = refused.filter { alarms.refused[$0.0] != $0.1 }
            for (sequence, reason) in refused { alarms.refused[sequence] = reason }
            var cleared: [UplinkFault] = []
            let reasons = Set(alarms.refused.values)
            for (name, fault) in alarms.faults {
                if case .alertUndeliverable(_, let reason) = fault, !reasons.contains(reason) {
                    alarms.faults[name] = nil
                    cleared.append(fault)
                }
            }
            for reason in reasons {
                let fault = UplinkFault.alertUndeliverable(backend: configuration.name, reason: reason)
                alarms.faults[fault.description] = fault
            }
            return (fresh, cleared)
        }
        for (sequence, reason) in fresh {
            let fault = UplinkFault.alertUndeliverable(backend: configuration.name, reason: reason)
            logger.error(
                "alert refused by the backend: kept pending and retried; the box shows a fault, not sent",
                metadata: ["seq": "\(sequence)", "reason": "\(reason.rawValue)", "fault": "\(fault)"])
            eventSink.yield(.fault(fault))
        }
        desk.refused(fresh, backend: configuration.name)
        for fault in cleared { eventSink.yield(.faultCleared(fault)) }
    }

    /// Records the backend took: alerts it refused before are settled.
    func refusalsSettled(_ delivered: [Int64]) {
        let cleared = alarms.withLock { alarms -> [UplinkFault] in
            var changed = false
            for sequence in delivered where alarms.refused.removeValue(forKey: sequence) != nil { changed = true }
            guard changed else { return [] }
            let reasons = Set(alarms.refused.values)
            var cleared: [UplinkFault] = []
            for (name, fault) in alarms.faults {
                if case .alertUndeliverable(_, let reason) = fault, !reasons.contains(reason) {
                    alarms.faults[name] = nil
                    cleared.append(fault)
                }
            }
            return cleared
        }
        for fault in cleared {
            logger.notice("refused alerts taken by the backend now", metadata: ["fault": "\(fault)"])
            eventSink.yield(.faultCleared(fault))
        }
    }
}

private func isDeliveryFault(_ fault: UplinkFault) -> Bool {
    if case .backendFailing = fault { true } else { false }
}
