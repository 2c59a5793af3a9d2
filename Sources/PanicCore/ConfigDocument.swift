/// A remote configuration from the control room: the remotely settable part of `panicd.yaml` (an overlay, YAML
/// text) as a versioned document, addressed to one device or a group, with an expiry; the payload of a JWS
/// signed with the control room's Ed25519 key (docs/configuration.md → *Remote configuration*).
///
/// The box applies it only after checking the signature against its pinned control-room key, the address, the
/// expiry, that its version is newer than the one applied, and that the overlay sets only remotely settable keys
/// and gives a configuration that passes the same checks as `panicd config check`.
public struct ConfigDocument: Sendable, Hashable, Codable {
    /// The payload's kind, `config`: a signed command (`ControlCommand`) never decodes as one, nor one as a command.
    public static let kindName = "config"

    /// Format version (1).
    public var format: Int
    /// Always ``kindName``.
    public var kind: String
    /// The configuration's version: the box applies only a version newer than the one it has (no replay of an old
    /// document, signed or not).
    public var version: Int
    /// The device it is for; nil when it is for a group.
    public var device: String?
    /// The group it is for (the box's local `group:`); nil when it is for one device.
    public var group: String?
    /// A random value the box acknowledges it by (as a command's nonce), so the control room stops sending it.
    public var nonce: String
    /// When the control room signed it.
    public var issued: RecordTime
    /// After this the box refuses it.
    public var expires: RecordTime
    /// The overlay: a YAML mapping of the remotely settable top-level keys of `panicd.yaml`.
    public var settings: String

    public init(
        version: Int, device: String?, group: String? = nil, nonce: String, issued: RecordTime,
        expires: RecordTime, settings: String
    ) {
        format = 1
        kind = ConfigDocument.kindName
        self.version = version
        self.device = device
        self.group = group
        self.nonce = nonce
        self.issued = issued
        self.expires = expires
        self.settings = settings
    }

    enum CodingKeys: String, CodingKey {
        case format = "v"
        case kind, version, device, group, nonce, issued, expires, settings
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        kind = try container.decode(String.self, forKey: .kind)
        guard kind == ConfigDocument.kindName else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "kind is \(kind), expected \(ConfigDocument.kindName)")
        }
        version = try container.decode(Int.self, forKey: .version)
        device = try container.decodeIfPresent(String.self, forKey: .device)
        group = try container.decodeIfPresent(String.self, forKey: .group)
        nonce = try container.decode(String.self, forKey: .nonce)
        issued = try container.decode(RecordTime.self, forKey: .issued)
        expires = try container.decode(RecordTime.self, forKey: .expires)
        settings = try container.decode(String.self, forKey: .settings)
        guard (device == nil) != (group == nil) else {
            throw DecodingError.dataCorruptedError(
                forKey: .device, in: container, debugDescription: "give exactly one of device and group")
        }
    }
}
