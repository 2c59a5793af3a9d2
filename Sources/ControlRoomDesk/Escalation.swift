import ControlRoomKit
import Foundation
import Logging
import PanicCore
import PanicHardware
import ServiceLifecycle

/// Who is told about an emergency nobody accepted, and when: after `after`, and every `every` after that while it
/// stays unaccepted, by e-mail (SMTP), a signed webhook and/or SMS through the control room's own modem.
public struct EscalationConfiguration: Sendable {
    public var after: Duration
    public var every: Duration
    public var email: SMTPConfiguration?
    public var webhook: WebhookConfiguration?
    public var sms: SMSEscalation?

    public init(
        after: Duration = .seconds(60), every: Duration = .seconds(300), email: SMTPConfiguration? = nil,
        webhook: WebhookConfiguration? = nil, sms: SMSEscalation? = nil
    ) {
        self.after = after
        self.every = every
        self.email = email
        self.webhook = webhook
        self.sms = sms
    }

    /// Whether any channel is configured (the page says "supervisor notified" only then).
    public var notifies: Bool { email != nil || webhook != nil || sms != nil }
}

/// Escalation by SMS: the supervisors' numbers and the control room's modem (`GSMModem` on its AT port; the
/// simulated modem in tests). One message per number, each sent and audited on its own, so one unreachable
/// phone does not hide the others' result.
public struct SMSEscalation: Sendable {
    public var numbers: [String]
    public var modem: any SMSModem
    /// What the audit calls the modem (its port).
    public var modemName: String

    /// Throws `DeskError.badRequest` naming a number the modem could not dial (an optional `+` and 3–15 digits,
    /// as `AT+CMGS` takes it), or when there is none.
    public init(numbers: [String], modem: any SMSModem, modemName: String) throws(DeskError) {
        guard !numbers.isEmpty else { throw .badRequest("escalation by SMS needs at least one number") }
        for number in numbers where !SMSDialogue.isValidNumber(number) {
            throw .badRequest("'\(number)' is not a phone number (an optional + and 3 to 15 digits)")
        }
        self.numbers = numbers
        self.modem = modem
        self.modemName = modemName
    }
}

/// The one rule for escalation, pure over rows: which open alerts are due a notification now, and when the next
/// one falls due. An open (unaccepted) emergency is due once it has waited `after` since its press and, when it
/// was notified before, once `every` has passed since its last notification (`claims`: the times of its earlier
/// notifications, from the audit log's `escalate` lines). Rounds missed while the control room was down are not
/// sent as a burst: one notification, then `every` again.
public enum EscalationPlan {
    /// An alert as the plan reads it.
    public struct Row: Sendable, Hashable {
        public var device: String
        public var alert: String
        public var kind: String
        public var state: ControlRoomAlertState
        /// Time since the press at the plan's `nowMs`.
        public var waitedMs: Int64

        public init(device: String, alert: String, kind: String, state: ControlRoomAlertState, waitedMs: Int64) {
            self.device = device
            self.alert = alert
            self.kind = kind
            self.state = state
            self.waitedMs = waitedMs
        }

        init(_ view: AlertView) {
            self.init(
                device: view.device, alert: view.id, kind: view.kind, state: view.state, waitedMs: view.sincePressMs)
        }
    }

    public struct Due: Sendable, Hashable {
        public var row: Row
        /// 1 for the first notification on the alert, 2 for the next...
        public var round: Int
    }

    public static func key(device: String, alert: String) -> String { device + "/" + alert }

    /// The alerts due now, and the wall time (epoch ms) the next one falls due (nil: none can fall due without a
    /// change).
    public static func decide(
        alerts: [Row], claims: [String: [Int64]], after: Duration, every: Duration, nowMs: Int64
    ) -> (due: [Due], nextMs: Int64?) {
        let afterMs = after.milliseconds
        let everyMs = every.milliseconds
        var due: [Due] = []
        var next: Int64?
        for alert in alerts where alert.state == .open && alert.kind == "emergency" {
            let earlier = claims[key(device: alert.device, alert: alert.alert)] ?? []
            let dueAt = earlier.max().map { $0 + everyMs } ?? (nowMs - alert.waitedMs + afterMs)
            if dueAt <= nowMs {
                due.append(Due(row: alert, round: earlier.count + 1))
                next = min(next ?? .max, nowMs + everyMs)
            } else {
                next = min(next ?? .max, dueAt)
            }
        }
        return (due, next)
    }
}

/// Sends the escalations the plan decides, as a service beside the server: wakes on every change (a new alert, an
/// accept) and when the next notification falls due, on an injected clock. Each round is first claimed in the
/// audit log (`escalate`), then each channel's delivery is audited (`notify`: sent, or failed with the reason).
public final class Escalator: Service, Sendable {
    let room: ControlRoom
    let signal: DeskSignal
    let configuration: EscalationConfiguration
    let clock: any Clock<Duration>
    let logger: Logger
    static let actor = AuditActor(user: "controlroom", role: nil)

    public init(
        room: ControlRoom, signal: DeskSignal, configuration: EscalationConfiguration,
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger
    ) {
        self.room = room
        self.signal = signal
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.loop() }
    }

    /// Until cancelled or the signal closes.
    public func loop() async throws {
        guard configuration.notifies else { return }
        while !Task.isCancelled {
            let version = signal.version
            var nextMs: Int64?
            do { nextMs = try await escalateDue() } catch {
                logger.error("escalation: \(error)")
                nextMs = room.wallClock().epochMilliseconds + 5000
            }
            if await signal.waitForChange(after: version, orUntil: nextMs, wall: room.wallClock, on: clock) { return }
        }
    }

    /// Sends what is due now; returns when the next notification falls due.
    func escalateDue() async throws -> Int64? {
        let now = room.wallClock().epochMilliseconds
        let alerts = try await room.openAlerts()
        var claims: [String: [Int64]] = [:]
        for alert in alerts where alert.state == .open && alert.kind == "emergency" {
            claims[EscalationPlan.key(device: alert.device, alert: alert.id)] = try await room.audit(
                device: alert.device, alert: alert.id
            ).filter { $0.action == .escalate }.map(\.timeMs)
        }
        let plan = EscalationPlan.decide(
            alerts: alerts.map(EscalationPlan.Row.init), claims: claims, after: configuration.after,
            every: configuration.every, nowMs: now)
        for due in plan.due {
            if let alert = alerts.first(where: { $0.device == due.row.device && $0.id == due.row.alert }) {
                try await notify(alert, round: due.round)
            }
        }
        return plan.nextMs
    }

    func notify(_ alert: AlertView, round: Int) async throws {
        let due = (alert: alert, round: round)
        let name = try await room.metadata(device: alert.device)?.name ?? ""
        let waited = alert.sincePressMs / 1000
        let summary =
            "round \(due.round): \(alert.kind.uppercased()) from \(name.isEmpty ? alert.device : name) not accepted for \(waited) s"
        try await room.auditSecurity(.escalate, by: Self.actor, subject: alert.device, item: alert.id, detail: summary)
        let message = EscalationMessage(alert: alert, name: name, round: due.round, waitedSeconds: waited)
        if let email = configuration.email {
            let result: String
            do {
                try await SMTPClient(email).send(
                    subject: message.subject, body: message.text, clock: clock)
                result = "e-mail to \(email.to.joined(separator: ", ")): sent"
            } catch {
                result = "e-mail to \(email.to.joined(separator: ", ")): failed: \(error)"
            }
            try await room.auditSecurity(.notify, by: Self.actor, subject: alert.device, item: alert.id, detail: result)
        }
        if let sms = configuration.sms {
            for number in sms.numbers {
                let result: String
                do {
                    let reference = try await sms.modem.send(message.sms, to: number)
                    result = "SMS to \(number) via \(sms.modemName): sent (reference \(reference))"
                } catch {
                    let unknown = error.textHandedOver ? " (the text was handed over: it may have gone out)" : ""
                    result = "SMS to \(number) via \(sms.modemName): failed: \(error)\(unknown)"
                }
                try await room.auditSecurity(
                    .notify, by: Self.actor, subject: alert.device, item: alert.id, detail: result)
            }
        }
        if let webhook = configuration.webhook {
            let result: String
            do {
                try await WebhookSender(webhook).send(message.json(sentAtMs: room.wallClock().epochMilliseconds))
                result = "webhook \(webhook.url): sent"
            } catch {
                result = "webhook \(webhook.url): failed: \(error)"
            }
            try await room.auditSecurity(.notify, by: Self.actor, subject: alert.device, item: alert.id, detail: result)
        }
    }
}

/// What a notification says, as text (e-mail) and as JSON (webhook).
struct EscalationMessage: Sendable {
    var alert: AlertView
    var name: String
    var round: Int
    var waitedSeconds: Int64

    var subject: String {
        "PanicBridge: \(alert.kind.uppercased()) not accepted for \(waitedSeconds) s: \(name.isEmpty ? alert.device : name)"
    }

    var text: String {
        var lines = [
            "An \(alert.kind) alert has not been accepted by any operator for \(waitedSeconds) seconds.", "",
            "Device: \(alert.device)\(name.isEmpty ? "" : " (\(name))")",
            "Alert: \(alert.id)", "Pressed: \(alert.pressed)",
        ]
        if let latitude = alert.latitude, let longitude = alert.longitude {
            lines.append(String(format: "Position: %.5f, %.5f", latitude, longitude))
        }
        lines += ["Notification: \(round)", "", "Open the desk and accept it, or take over."]
        return lines.joined(separator: "\n")
    }

    /// One text message (at most 160 characters, GSM 7-bit safe: ASCII only, anything else as `?`): what, who,
    /// how long, where, which alert. The name is cut first when it does not fit; the alert id last.
    var sms: String {
        func ascii(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII && $0.value >= 32 ? $0 : "?" }))
        }
        let position =
            alert.latitude.flatMap { latitude in
                alert.longitude.map { String(format: " at %.5f,%.5f", latitude, $0) }
            } ?? ""
        let tail = "\(position) alert \(ascii(alert.id)) round \(round)"
        let head = "PanicBridge: \(alert.kind.uppercased()) not accepted \(waitedSeconds)s: \(ascii(alert.device))"
        let room = SMSDialogue.maximumLength - head.count - tail.count - 3
        let label = ascii(name)
        let named = label.isEmpty || room < 4 ? "" : " (\(label.count <= room ? label : label.prefix(room - 1) + "~"))"
        return String((head + named + tail).prefix(SMSDialogue.maximumLength))
    }

    struct Body: Codable {
        var event = "escalation"
        var device: String
        var name: String
        var alert: String
        var kind: String
        var pressed: String
        var waitedSeconds: Int64
        var round: Int
        var latitude: Double?
        var longitude: Double?
        var sentAtMs: Int64
    }

    func json(sentAtMs: Int64) -> Data {
        let body = Body(
            device: alert.device, name: name, alert: alert.id, kind: alert.kind, pressed: alert.pressed,
            waitedSeconds: waitedSeconds, round: round, latitude: alert.latitude, longitude: alert.longitude,
            sentAtMs: sentAtMs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(body)) ?? Data()
    }
}
