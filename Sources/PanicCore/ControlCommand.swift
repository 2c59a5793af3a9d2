/// What an operator asked the box to do about one of its alerts.
public enum CommandAction: String, Sendable, Codable, CaseIterable {
    /// The control room accepted the alert: help is on the way.
    case accept
    /// The control room cleared the alert (the emergency is resolved).
    case clear
    /// A responder has been dispatched to the alert (the desk's "dispatched" stage).
    case dispatch
    /// A responder is on scene (the desk's "on scene" stage).
    case arrive

    /// The alert state the command brings the alert to on the box: the one mapping of actions to states.
    public var target: AlertState {
        switch self {
        case .accept: .acknowledged
        case .dispatch: .dispatched
        case .arrive: .onScene
        case .clear: .cleared
        }
    }
}

/// A command from the control room to one device about one alert: the payload of a JWS signed with the
/// control room's Ed25519 key. The device acts on it only after checking the signature against its pinned
/// control-room key, the device, the alert, the expiry and the nonce.
public struct ControlCommand: Sendable, Hashable, Codable {
    /// Format version (1).
    public var version: Int
    /// What to do.
    public var action: CommandAction
    /// The device the command is for.
    public var device: String
    /// The alert's record id.
    public var alert: String
    /// A random value never used twice; the device refuses a nonce it has seen (a replay).
    public var nonce: String
    /// When the control room issued it.
    public var issued: RecordTime
    /// After this the device refuses it.
    public var expires: RecordTime

    public init(
        action: CommandAction, device: String, alert: String, nonce: String, issued: RecordTime, expires: RecordTime
    ) {
        version = 1
        self.action = action
        self.device = device
        self.alert = alert
        self.nonce = nonce
        self.issued = issued
        self.expires = expires
    }

    enum CodingKeys: String, CodingKey {
        case version = "v"
        case action, device, alert, nonce, issued, expires
    }
}
