import PanicCore

/// What an operator's action on an alert (accept, clear) writes: the alert's new state, the command that tells the
/// device, the audit line. Pure: a store reads the alert's state inside its transaction (nil when there is no such
/// alert), this decides, the store writes what it says — so SQLite and PostgreSQL follow the very same rule (the
/// pattern of `IntakePlan`).
public struct AlertActionPlan: Sendable {
    /// The state the alert moves to.
    public var state: ControlRoomAlertState
    /// The command to issue to the device.
    public var command: CommandAction
    /// The audit line to append, if any.
    public var audit: NewAuditEntry?

    /// Decides `action` on `device`'s `alert`, whose stored state is `current`: allowed only from one of
    /// `allowed`, it moves the alert to `newState`. Throws `unknownAlert` for no alert, `wrongState` (naming the
    /// state) for one in another state.
    public init(
        _ action: CommandAction, device: String, alert: String, current: ControlRoomAlertState?,
        allowed: Set<ControlRoomAlertState>, newState: ControlRoomAlertState, audit: NewAuditEntry?
    ) throws(ControlRoomError) {
        guard let current else { throw .unknownAlert(device: device, alert: alert) }
        guard allowed.contains(current) else { throw .wrongState(alert: alert, state: current, action: action) }
        self.state = newState
        self.command = action
        self.audit = audit
    }
}
