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

    /// The operator accepts an alert ("help is on the way"); a signed `accept` command goes to the device.
    @discardableResult
    public func accept(device: String, alert: String) async throws -> AlertView {
        try await act(.accept, device: device, alert: alert, allowed: [.open], newState: .acknowledged)
    }

    /// The operator clears an alert; a signed `clear` command goes to the device, which answers with a
    /// `cleared` record.
    @discardableResult
    public func clear(device: String, alert: String) async throws -> AlertView {
        try await act(.clear, device: device, alert: alert, allowed: [.open, .acknowledged], newState: .cleared)
    }

    private func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState
    ) async throws -> AlertView {
        let view = try await store.act(
            action, device: device, alert: alert, allowed: allowed, newState: newState, now: wallClock(),
            issue: issuer)
        logger.notice(
            "operator action", metadata: ["action": "\(action.rawValue)", "device": "\(device)", "alert": "\(alert)"])
        return view
    }
}
