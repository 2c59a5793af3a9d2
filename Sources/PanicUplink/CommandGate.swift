import PanicCore
import PanicSigning

/// Why the device refused a command. Every refusal is logged with this text (outside text quoted by `LogText`).
public enum CommandRejection: Error, Hashable, CustomStringConvertible {
    /// The signature or the envelope is wrong, or the key is not the pinned control-room key.
    case forged(CommandSignatureError)
    /// The backend has no pinned control-room key, so no command from it can be trusted.
    case noPinnedKey(backend: String)
    /// The command names another device.
    case wrongDevice(String)
    /// The command's expiry has passed on the control room's clock as the box knows it.
    case expired(RecordTime)
    /// The nonce was seen before.
    case replayed(nonce: String)
    /// The device has no such alert.
    case unknownAlert(String)
    /// The alert is already past what the command asks (e.g. accepting a cleared alert).
    case stale(alert: String, state: AlertState)

    public var description: String {
        switch self {
        case .forged(let error): "forged command: \(LogText.quoted(error.description, limit: 200))"
        case .noPinnedKey(let backend): "backend \(backend) has no pinned control-room key"
        case .wrongDevice(let device): "command is for device \(LogText.quoted(device, limit: 40))"
        case .expired(let time): "command expired at \(time)"
        case .replayed(let nonce): "command replayed (nonce \(LogText.quoted(nonce, limit: 40)) already seen)"
        case .unknownAlert(let alert): "command names unknown alert \(LogText.quoted(alert, limit: 60))"
        case .stale(let alert, let state):
            "command for alert \(LogText.quoted(alert, limit: 60)) that is already \(state.rawValue)"
        }
    }

    /// Whether the box acknowledges a command it refused for this reason, so the control room stops sending it.
    /// The one place this is decided.
    ///
    /// A command refused as expired is not: the control room then gives the alert a fresh command (new nonce, new
    /// expiry) once this one has expired on its own clock (`CommandReissue` in ControlRoomKit), and the box acts on
    /// that one. A forged command has no nonce worth acknowledging. Every other refusal is final whatever is
    /// resent (a replay, an alert the box does not have or is already past the command, another device), so it is
    /// acknowledged: a replayed nonce again, since the first acknowledgement may have been lost.
    public var isAcknowledged: Bool {
        switch self {
        case .expired, .forged, .noPinnedKey: false
        case .wrongDevice, .replayed, .unknownAlert, .stale: true
        }
    }

    /// Whether the refusal points at a misconfiguration rather than the alert's course (forged: a wrongly pinned
    /// key; no pinned key; another device; expired: clocks the learnt offset does not reconcile): a run of them
    /// raises a fault.
    public var isMisconfiguration: Bool {
        switch self {
        case .forged, .noPinnedKey, .wrongDevice, .expired: true
        case .replayed, .unknownAlert, .stale: false
        }
    }
}

/// Decides whether a control-room command may act: signature against the pinned key, device, expiry, nonce,
/// and the alert's current state. Pure apart from the signature check; the caller passes the time.
///
/// Time is the control room's: the box's wall clock plus the offset it learnt from the control room's `serverTime`
/// (`RequestAuthenticator.controlRoomTime`). A command's `expires` is the control room's clock, so a box whose own
/// clock runs fast would otherwise refuse every command as expired. `issued` is not a bound (there is no
/// not-before): a command is signed when it is issued, so it cannot be early.
public struct CommandGate: Sendable {
    /// This device's id.
    public let deviceID: String
    /// Nonces of commands acted on or refused for good after a valid signature, with their expiry (kept until
    /// then: after it, the expiry check refuses a replay anyway). A command refused as expired is not kept: it is
    /// not acknowledged, and whenever it comes again it is refused again as expired.
    public private(set) var seenNonces: [String: RecordTime] = [:]

    public init(deviceID: String) { self.deviceID = deviceID }

    /// Checks one command's JWS, then `admit`s it.
    public mutating func check(
        _ text: String, verifier: CommandSignatureVerifier, lifecycle: AlertLifecycle, now: RecordTime
    ) -> Result<ControlCommand, CommandRejection> {
        let command: ControlCommand
        do { command = try verifier.verify(text) } catch { return .failure(.forged(error)) }
        return admit(command, lifecycle: lifecycle, now: now)
    }

    /// Decides on a command whose signature verified, at `now` on the control room's clock.
    public mutating func admit(
        _ command: ControlCommand, lifecycle: AlertLifecycle, now: RecordTime
    ) -> Result<ControlCommand, CommandRejection> {
        seenNonces = seenNonces.filter { $0.value > now }
        if seenNonces[command.nonce] != nil { return .failure(.replayed(nonce: command.nonce)) }
        guard command.expires > now else { return .failure(.expired(command.expires)) }
        seenNonces[command.nonce] = command.expires
        guard command.device == deviceID else { return .failure(.wrongDevice(command.device)) }
        guard let state = lifecycle.state(of: command.alert) else { return .failure(.unknownAlert(command.alert)) }
        let target = command.action.target
        guard state < target else { return .failure(.stale(alert: command.alert, state: state)) }
        return .success(command)
    }
}
