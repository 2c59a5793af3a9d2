import PanicCore

/// When the control room gives an alert a fresh command, and which commands an answer carries. Pure: a store reads
/// the rows (`AlertRow`, `CommandRow`) inside the ingest transaction, this decides, the store signs and inserts
/// what it says — so SQLite and PostgreSQL follow the very same rule (the pattern of `IntakePlan`).
///
/// The rule: an alert the device has not confirmed cleared, that the control room has accepted (or cleared), wants
/// the device to have the `accept` (or `clear`) command; one not cleared with a responder on scene (or dispatched)
/// also wants the `arrive` (or `dispatch`) command (`wanted(_:stages:)`, the rule `DispatchPlan` issues by). It
/// gets a fresh one (new nonce, new expiry) when none of that action for it is either acknowledged by the device or
/// still unexpired on the control room's clock. So a
/// command that expired before the device acted on it — the device was offline, or refused it as expired and so
/// did not acknowledge it (`CommandRejection.isAcknowledged` on the box) — is reissued at the device's next
/// authenticated request. An acknowledged command is never reissued: the device acted on it, or refused it for a
/// reason a fresh copy would not change.
public enum CommandReissue {
    /// An alert whose command the device may still need.
    public struct AlertRow: Sendable, Hashable {
        public var device: String
        public var alert: String
        public var state: ControlRoomAlertState
        public var deviceCleared: Bool
        /// The dispatch stages of the alert's responders (`dispatches` rows), in any order.
        public var stages: [DispatchStage]

        public init(
            device: String, alert: String, state: ControlRoomAlertState, deviceCleared: Bool,
            stages: [DispatchStage] = []
        ) {
            self.device = device
            self.alert = alert
            self.state = state
            self.deviceCleared = deviceCleared
            self.stages = stages
        }
    }

    /// A command the control room has issued.
    public struct CommandRow: Sendable, Hashable {
        public var device: String
        public var alert: String
        public var action: CommandAction
        public var acked: Bool
        public var expiresMs: Int64

        public init(device: String, alert: String, action: CommandAction, acked: Bool, expiresMs: Int64) {
            self.device = device
            self.alert = alert
            self.action = action
            self.acked = acked
            self.expiresMs = expiresMs
        }
    }

    /// The command an alert in `state` wants the device to have, if any.
    public static func wanted(_ state: ControlRoomAlertState) -> CommandAction? {
        switch state {
        case .open: nil
        case .acknowledged: .accept
        case .cleared: .clear
        }
    }

    /// The command an alert in `state` wants the device to have for its responders' `stages`: `arrive` when one is
    /// on scene, else `dispatch` when one is dispatched; none for a stood-down responder, nor once the control room
    /// cleared the alert (the box shows it cleared).
    public static func wanted(_ state: ControlRoomAlertState, stages: some Sequence<DispatchStage>) -> CommandAction? {
        guard state != .cleared else { return nil }
        let stages = Set(stages)
        return stages.contains(.onScene) ? .arrive : stages.contains(.dispatched) ? .dispatch : nil
    }

    /// Every command `row`'s alert wants the device to have, in the order the box should act on them.
    public static func wanted(_ row: AlertRow) -> [CommandAction] {
        guard !row.deviceCleared else { return [] }
        return [wanted(row.state), wanted(row.state, stages: row.stages)].compactMap { $0 }
    }

    /// Whether `command` still stands for its alert at `nowMs` (the control room's clock): the device acknowledged
    /// it, or it has not expired.
    public static func stands(_ command: CommandRow, nowMs: Int64) -> Bool {
        command.acked || command.expiresMs > nowMs
    }

    /// The commands to issue now, in `alerts`' order: for every alert that wants a command none of whose kind
    /// stands.
    public static func reissues(
        alerts: [AlertRow], commands: [CommandRow], nowMs: Int64
    ) -> [(device: String, alert: String, action: CommandAction)] {
        var standing: Set<String> = []
        for command in commands where stands(command, nowMs: nowMs) {
            standing.insert(key(command.device, command.alert, command.action))
        }
        return alerts.flatMap { row in
            wanted(row).filter { !standing.contains(key(row.device, row.alert, $0)) }.map {
                (row.device, row.alert, $0)
            }
        }
    }

    private static func key(_ device: String, _ alert: String, _ action: CommandAction) -> String {
        "\(device)\u{0}\(alert)\u{0}\(action.rawValue)"
    }
}
