import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore
import Synchronization

/// The device side of the alert lifecycle: which alerts exist, what the control room said about them, and
/// the stream of state changes that drives the indicator (LED/buzzer).
public final class AlertDesk: Sendable {
    struct State {
        var lifecycle = AlertLifecycle()
        var gate: CommandGate
        var alertBySequence: [Int64: String] = [:]
        /// Nonces of commands processed, to acknowledge to the control room on the next request.
        var pendingAcks: Set<String> = []
        /// Commands refused (nonce and the refusal's kind), to report to the control room on the next request.
        var pendingRefusals: [String: String] = [:]
        /// Nonces whose refusal a control room took already: not reported again (a forged command comes back
        /// with every answer). Forgotten all at once past `reportedLimit`.
        var reportedRefusals: Set<String> = []
        /// Alerts a backend refused for a reason a resend will not fix, with the backends refusing them.
        var undeliverable: [String: Set<String>] = [:]

        /// Most refusals waiting to be reported, and most nonces remembered as reported.
        static let pendingLimit = 64
        static let reportedLimit = 1024

        mutating func noteRefusal(nonce: String, kind: String) {
            let report = CommandRefusalReport(nonce: nonce, reason: kind)
            guard report.isWellFormed, !reportedRefusals.contains(nonce),
                pendingRefusals[nonce] != nil || pendingRefusals.count < Self.pendingLimit
            else { return }
            pendingRefusals[nonce] = kind
        }
    }

    /// What `handle(commands:...)` did.
    struct Handled: Sendable {
        /// Alerts cleared (a `cleared` record is owed for each).
        var clears: [String] = []
        /// Commands accepted.
        var accepted = 0
        /// Every refusal, in the answer's order.
        var refusals: [CommandRejection] = []
        /// Refusals that point at a misconfiguration rather than a resend (`CommandRejection.isMisconfiguration`).
        var misconfigured: [CommandRejection] { refusals.filter(\.isMisconfiguration) }
    }

    private let state: Mutex<State>
    private let continuation: AsyncStream<AlertTransition>.Continuation
    private let refusalSink: AsyncStream<AlertRefusal>.Continuation
    private let logger: Logger
    /// Every alert state change, in order: stored, sent, acknowledged (help on the way), cleared.
    public let transitions: AsyncStream<AlertTransition>
    /// Alerts refused for good by a backend, and refusals settled: the box shows a fault while any open alert is
    /// refused (`IndicatorPolicy.Situation.undeliverable`).
    public let refusals: AsyncStream<AlertRefusal>

    init(deviceID: String, logger: Logger) {
        state = Mutex(State(gate: CommandGate(deviceID: deviceID)))
        (transitions, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (refusals, refusalSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        self.logger = logger
    }

    /// Alerts that a backend refused for a reason a resend will not fix and that no backend has taken since.
    public var undeliverable: Set<String> { state.withLock { Set($0.undeliverable.keys) } }

    /// The current state of `alert`.
    public func state(of alert: String) -> AlertState? { state.withLock { $0.lifecycle.state(of: alert) } }

    /// The outbox sequence of a tracked alert's record (nil when the desk does not track it).
    public func sequence(of alert: String) -> Int64? {
        state.withLock { state in state.alertBySequence.first { $0.value == alert }?.key }
    }

    /// Whether an alert is waiting for the control room (not yet cleared).
    public var hasOpenAlerts: Bool { state.withLock { !$0.lifecycle.openAlerts.isEmpty } }

    /// Tracks an alert committed to the outbox as record `sequence` (also used after a restart, for alerts the
    /// engine's saved state says are still open, from the last state saved for them).
    public func stored(id: String, kind: RecordKind, sequence: Int64, state known: AlertState = .stored) {
        let transition = state.withLock { state -> AlertTransition? in
            guard let transition = state.lifecycle.stored(alert: id, kind: kind, state: known) else { return nil }
            state.alertBySequence[sequence] = id
            return transition
        }
        publish([transition].compactMap { $0 })
    }

    /// A backend with `role` took these records. Only an alerting authority's acknowledgement moves an alert to
    /// `sent` or settles a refusal; a tracking server's changes nothing the LED shows.
    func delivered(sequences: [Int64], role: BackendRole) {
        guard IndicatorPolicy.acknowledgementCounts(from: role) else { return }
        let (transitions, settled) = state.withLock { state -> ([AlertTransition], [String]) in
            let alerts = sequences.compactMap { state.alertBySequence[$0] }
            let settled = alerts.filter { state.undeliverable.removeValue(forKey: $0) != nil }
            return (alerts.compactMap { state.lifecycle.delivered(alert: $0, by: role) }, settled)
        }
        for alert in settled { refusalSink.yield(.settled(alert: alert)) }
        publish(transitions)
    }

    /// A backend refused these records (by sequence) for a reason a resend will not fix: the alerts among them
    /// are undeliverable until a backend takes them.
    func refused(_ refused: [(Int64, RejectionReason)], backend: String) {
        let fresh = state.withLock { state -> [AlertRefusal] in
            var fresh: [AlertRefusal] = []
            for (sequence, reason) in refused {
                guard let alert = state.alertBySequence[sequence], let entry = state.lifecycle.alerts[alert],
                    entry.state == .stored
                else { continue }
                if state.undeliverable[alert, default: []].insert(backend).inserted {
                    fresh.append(.refused(alert: alert, kind: entry.kind, backend: backend, reason: reason))
                }
            }
            return fresh
        }
        for refusal in fresh { refusalSink.yield(refusal) }
    }

    /// Applies commands from a backend whose signatures were checked already (off this lock: see
    /// `BackendUplink.takeCommands`), at `now` on the control room's clock; returns what it did. Logs each command
    /// accepted; the refusals are the caller's to log, once per answer.
    func handle(
        commands: [Result<ControlCommand, CommandSignatureError>], nonces: [String?] = [], backend: String,
        now: RecordTime
    ) -> Handled {
        let nonces = nonces + Array(repeating: nil, count: max(0, commands.count - nonces.count))
        var handled = Handled()
        guard !commands.isEmpty else { return handled }
        let transitions = state.withLock { state -> [AlertTransition] in
            var transitions: [AlertTransition] = []
            for (index, checked) in commands.enumerated() {
                let command: ControlCommand
                switch checked {
                case .success(let verified): command = verified
                case .failure(let error):
                    handled.refusals.append(.forged(error))
                    if let nonce = nonces[index] {
                        state.noteRefusal(nonce: nonce, kind: CommandRejection.forged(error).kind)
                    }
                    continue
                }
                switch state.gate.admit(command, lifecycle: state.lifecycle, now: now) {
                case .success(let command):
                    state.pendingAcks.insert(command.nonce)
                    handled.accepted += 1
                    let transition = state.lifecycle.commanded(command.action, alert: command.alert)
                    if command.action == .clear { handled.clears.append(command.alert) }
                    if let transition { transitions.append(transition) }
                    // Info: the transition it makes is the event's one notice line (the daemon logs it).
                    logger.info(
                        "command accepted",
                        metadata: [
                            "backend": "\(backend)", "action": "\(command.action.rawValue)",
                            "alert": "\(command.alert)",
                        ])
                case .failure(let rejection):
                    if rejection.isAcknowledged { state.pendingAcks.insert(command.nonce) }
                    state.noteRefusal(nonce: command.nonce, kind: rejection.kind)
                    handled.refusals.append(rejection)
                }
            }
            return transitions
        }
        publish(transitions)
        return handled
    }

    /// Clears every open emergency (an authorised AIS-140 backend's `CLR EO`); returns the alerts cleared.
    func clearEmergencies() -> [String] {
        let transitions = state.withLock { state -> [AlertTransition] in
            state.lifecycle.alerts.filter { $0.value.kind == .emergency && $0.value.state != .cleared }.keys.sorted()
                .compactMap { state.lifecycle.cleared(alert: $0) }
        }
        publish(transitions)
        return transitions.map(\.alert)
    }

    /// Adds a nonce to acknowledge on the next request (a configuration document's).
    func acknowledge(nonce: String) { _ = state.withLock { $0.pendingAcks.insert(nonce) } }

    func pendingAcks() -> [String] { state.withLock { $0.pendingAcks.sorted() } }

    /// Reports refusals of commands whose signatures could not be trusted at all (no pinned key).
    func refused(nonces: [String?], kind: String) {
        state.withLock { state in for case let nonce? in nonces { state.noteRefusal(nonce: nonce, kind: kind) } }
    }

    /// The refusals to report on the next request (each command's once, until a control room takes it).
    func pendingRefusals() -> [CommandRefusalReport] {
        state.withLock { state in
            state.pendingRefusals.sorted { $0.key < $1.key }.map {
                CommandRefusalReport(nonce: $0.key, reason: $0.value)
            }
        }
    }

    func refusalsDelivered(_ reports: [CommandRefusalReport]) {
        state.withLock { state in
            if state.reportedRefusals.count > State.reportedLimit { state.reportedRefusals.removeAll() }
            for report in reports {
                state.pendingRefusals[report.nonce] = nil
                state.reportedRefusals.insert(report.nonce)
            }
        }
    }

    func acksDelivered(_ nonces: [String]) {
        state.withLock { state in for nonce in nonces { state.pendingAcks.remove(nonce) } }
    }

    private func publish(_ transitions: [AlertTransition]) {
        for transition in transitions {
            logger.info(
                "alert state", metadata: ["alert": "\(transition.alert)", "state": "\(transition.to.rawValue)"])
            continuation.yield(transition)
        }
    }

    func finish() {
        continuation.finish()
        refusalSink.finish()
    }
}

/// A change in whether an alert can be delivered.
public enum AlertRefusal: Sendable, Hashable {
    /// `backend` refused the alert for `reason` (fork, replay, device mismatch): it stays pending, the box shows a
    /// fault.
    case refused(alert: String, kind: RecordKind, backend: String, reason: RejectionReason)
    /// A backend took the alert after all.
    case settled(alert: String)
}
