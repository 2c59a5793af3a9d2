import Foundation
import Logging
import PanicCore
import PanicSigning

extension ControlRoom {
    /// Signs a fresh command for the store to keep (new nonce, expiry `commandLifetime` from `now`).
    var issuer: CommandIssuer {
        let signer = signer
        let lifetime = commandLifetime.components
        return { action, device, alert, now in
            guard let signer else { throw ControlRoomError.noSigningKey }
            let expires = RecordTime(
                epochMilliseconds: now.epochMilliseconds + lifetime.seconds * 1000 + lifetime.attoseconds
                    / 1_000_000_000_000_000)
            let command = ControlCommand(
                action: action, device: device, alert: alert, nonce: ControlRoom.makeNonce(), issued: now,
                expires: expires)
            return IssuedCommand(
                nonce: command.nonce, action: action, device: device, alert: alert, envelope: try signer.sign(command),
                expires: expires)
        }
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// The operator accepts an alert ("help is on the way"); a signed `accept` command goes to the device. With
    /// `account`, the audit line is written in the same transaction (the desk's accept).
    @discardableResult
    public func accept(
        device: String, alert: String, by account: DeskAccount? = nil, reason: String = ""
    ) async throws -> AlertView {
        try await act(
            .accept, device: device, alert: alert, allowed: [.open], newState: .acknowledged,
            audit: account.map { (.accept, $0, reason) })
    }

    /// The operator clears an alert; a signed `clear` command goes to the device, which answers with a
    /// `cleared` record. With `account`, the audit line is written in the same transaction.
    @discardableResult
    public func clear(
        device: String, alert: String, by account: DeskAccount? = nil, reason: String = ""
    ) async throws -> AlertView {
        let view = try await act(
            .clear, device: device, alert: alert, allowed: [.open, .acknowledged], newState: .cleared,
            audit: account.map { (.clear, $0, reason) })
        await logClosedAlert(device: device, alert: alert)
        return view
    }

    private func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState, audit: (action: AuditAction, account: DeskAccount, reason: String)?
    ) async throws -> AlertView {
        let now = wallClock()
        let entry = audit.map {
            NewAuditEntry(
                action: $0.action, account: $0.account, device: device, alert: alert, reason: $0.reason, now: now)
        }
        let view = try await store.act(
            action, device: device, alert: alert, allowed: allowed, newState: newState, now: now, issue: issuer,
            audit: entry)
        changes.publish(ControlRoomChange(entry == nil ? [.alerts] : [.alerts, .audit]))
        logger.notice(
            "operator action", metadata: ["action": "\(action.rawValue)", "device": "\(device)", "alert": "\(alert)"])
        return view
    }
}
