import Foundation
import PanicCore

/// A command of the control room's that a device's acks or refusals name, as read in the ingest transaction
/// (before the acks are applied).
public struct CommandReceiptRow: Sendable, Hashable {
    public var nonce: String
    public var alert: String
    public var action: String
    public var acked: Bool

    public init(nonce: String, alert: String, action: String, acked: Bool) {
        self.nonce = nonce
        self.alert = alert
        self.action = action
        self.acked = acked
    }
}

/// The box's own answer to each command, for the audit log and the desk: `box-confirmed` the first time it
/// acknowledges a command it did not refuse, `box-refused` (a security event) the first time it reports refusing
/// one — a forged signature means the box's pinned control-room key is not this control room's. Pure: the store
/// reads the command rows the request names (`nonces`) and, when it reports refusals, the nonces refused before
/// (`refusedNonce(in:)` of the device's `box-refused` audit lines); this decides; the store writes the lines.
public enum CommandReceipts {
    /// Who the lines name: the box itself (the audit line's device says which).
    public static let actor = AuditActor(user: "box", role: nil)

    /// The nonces whose rows the plan needs.
    public static func nonces(acks: [String], refusals: [CommandRefusalReport]) -> [String] {
        Array(Set(acks + refusals.map(\.nonce))).sorted()
    }

    /// The audit lines for one authenticated request of `device`. A nonce that names no command of this device
    /// is ignored (a box reports what it was sent; it cannot make the control room audit another's command). A
    /// refusal in the same request as its ack (a final refusal: stale, replayed) is a refusal, not a confirmation.
    public static func plan(
        device: String, rows: [CommandReceiptRow], acks: [String], refusals: [CommandRefusalReport],
        refusedBefore: Set<String>, now: RecordTime
    ) -> [NewAuditEntry] {
        let byNonce = Dictionary(rows.map { ($0.nonce, $0) }, uniquingKeysWith: { first, _ in first })
        var entries: [NewAuditEntry] = []
        var refused: Set<String> = []
        for refusal in refusals {
            guard let row = byNonce[refusal.nonce], refused.insert(refusal.nonce).inserted,
                !refusedBefore.contains(refusal.nonce)
            else { continue }
            entries.append(
                NewAuditEntry(
                    action: .boxRefused, actor: actor, device: device, alert: row.alert,
                    reason: "\(row.action) refused: \(refusal.reason) (nonce \(refusal.nonce))", now: now))
        }
        var confirmed: Set<String> = []
        for nonce in acks {
            guard let row = byNonce[nonce], !row.acked, !refused.contains(nonce), confirmed.insert(nonce).inserted
            else { continue }
            entries.append(
                NewAuditEntry(
                    action: .boxConfirmed, actor: actor, device: device, alert: row.alert,
                    reason: "\(row.action) confirmed (nonce \(nonce))", now: now))
        }
        return entries
    }

    /// The nonce a `box-refused` line's reason names (`… (nonce N)`), or nil.
    public static func refusedNonce(in reason: String) -> String? {
        guard reason.hasSuffix(")"), let start = reason.range(of: " (nonce ", options: .backwards) else { return nil }
        return String(reason[start.upperBound..<reason.index(before: reason.endIndex)])
    }
}
