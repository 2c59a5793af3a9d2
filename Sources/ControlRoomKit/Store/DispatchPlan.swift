import PanicCore

/// What moving a responder on an alert writes: the responder's dispatch row, the audit line, and the command that
/// tells the alerting box (unless the alert is cleared). Pure: a store reads the alert's state, whether the
/// responder is registered as one, and the responder's current stage on the alert, inside its transaction; this
/// decides; the store writes what it says — the same rule on SQLite and PostgreSQL (the pattern of `IntakePlan`).
public struct DispatchPlan: Sendable {
    /// The row to upsert into `dispatches` (keyed by device, alert, responder).
    public var row: DispatchRow
    /// The audit line to append.
    public var audit: NewAuditEntry
    /// The command to issue to the alerting box, if any (`CommandReissue.wanted(_:stages:)` keeps it issued).
    public var command: CommandAction?

    /// The plan for moving `responder` on `device`'s `alert` (in `alertState`) from `before` (nil: not assigned)
    /// to `stage`; nil when nothing changes (the same stage again: no audit line, no command). Throws
    /// `DeskError.badRequest` for a device that is no responder, or a stage that moves back (`DispatchStage.move`).
    public static func plan(
        device: String, alert: String, alertState: ControlRoomAlertState, responder: String, isResponder: Bool,
        before: DispatchStage?, to stage: DispatchStage, by account: DeskAccount, now: RecordTime
    ) throws(DeskError) -> DispatchPlan? {
        guard isResponder else { throw .badRequest("device '\(responder)' is not registered as a responder") }
        guard try DispatchStage.move(responder: responder, from: before, to: stage) else { return nil }
        return DispatchPlan(
            row: DispatchRow(responder: responder, stage: stage, timeMs: now.epochMilliseconds),
            audit: NewAuditEntry(
                action: .dispatch, account: account, device: device, alert: alert,
                reason: "\(responder) \(stage.rawValue)", now: now),
            command: alertState == .cleared ? nil : stage.command)
    }
}
