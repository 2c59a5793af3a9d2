import PanicCore
import PanicSigning

/// Why the device refused a command. Every refusal is logged with this text.
public enum CommandRejection: Error, Hashable, CustomStringConvertible {
    /// The signature or the envelope is wrong, or the key is not the pinned control-room key.
    case forged(CommandSignatureError)
    /// The backend has no pinned control-room key, so no command from it can be trusted.
    case noPinnedKey(backend: String)
    /// The command names another device.
    case wrongDevice(String)
    /// The command's expiry has passed.
    case expired(RecordTime)
    /// The nonce was seen before.
    case replayed(nonce: String)
    /// The device has no such alert.
    case unknownAlert(String)
    /// The alert is already past what the command asks (e.g. accepting a cleared alert).
    case stale(alert: String, state: AlertState)

    public var description: String {
        switch self {
        case .forged(let error): "forged command: \(error)"
        case .noPinnedKey(let backend): "backend \(backend) has no pinned control-room key"
        case .wrongDevice(let device): "command is for device \(device)"
        case .expired(let time): "command expired at \(time)"
        case .replayed(let nonce): "command replayed (nonce \(nonce) already seen)"
        case .unknownAlert(let alert): "command names unknown alert \(alert)"
        case .stale(let alert, let state): "command for alert \(alert) that is already \(state.rawValue)"
        }
    }
}

/// Decides whether a control-room command may act: signature against the pinned key, device, expiry, nonce,
/// and the alert's current state. Pure apart from the signature check; the caller passes the wall time.
public struct CommandGate: Sendable {
    /// This device's id.
    public let deviceID: String
    /// Nonces already accepted or refused after a valid signature, with their expiry (kept until then:
    /// after it, the expiry check refuses a replay anyway).
    public private(set) var seenNonces: [String: RecordTime] = [:]

    public init(deviceID: String) { self.deviceID = deviceID }

    /// Checks one command's JWS. A command whose signature verifies has its nonce remembered whatever the
    /// outcome, so it cannot be tried twice.
    public mutating func check(
        _ text: String, verifier: CommandSignatureVerifier, lifecycle: AlertLifecycle, now: RecordTime
    ) -> Result<ControlCommand, CommandRejection> {
        let command: ControlCommand
        do { command = try verifier.verify(text) } catch { return .failure(.forged(error)) }
        seenNonces = seenNonces.filter { $0.value > now }
        if seenNonces[command.nonce] != nil { return .failure(.replayed(nonce: command.nonce)) }
        seenNonces[command.nonce] = command.expires
        guard command.device == deviceID else { return .failure(.wrongDevice(command.device)) }
        guard command.expires > now else { return .failure(.expired(command.expires)) }
        guard let state = lifecycle.state(of: command.alert) else { return .failure(.unknownAlert(command.alert)) }
        let target = command.action.target
        guard state < target else { return .failure(.stale(alert: command.alert, state: state)) }
        return .success(command)
    }
}
