/// A software update from the control room: one `panicbridge` Debian package (name, version, architecture, SHA-256,
/// size, where on the control room to fetch it) and the floor below which the box never goes, addressed to one
/// device or a group, with an expiry; the payload of a JWS signed with the control room's Ed25519 key
/// (docs/updates.md).
///
/// Its `kind` is `update`: a command (`ControlCommand`, no `kind`) or a configuration document (`kind: config`)
/// never decodes as one, nor one as either of them.
public struct UpdateDocument: Sendable, Hashable, Codable {
    /// The payload's kind, `update`.
    public static let kindName = "update"
    /// The only package an update may carry.
    public static let packageName = "panicbridge"
    /// Where the control room serves a stored package: this prefix and its SHA-256 (lower-case hex).
    public static let pathPrefix = "/v1/updates/"

    /// Format version (1).
    public var format: Int
    /// Always ``kindName``.
    public var kind: String
    /// The Debian package's name: always ``packageName``.
    public var package: String
    /// The package's Debian version (`Version:`); the box installs only one newer than it runs.
    public var version: String
    /// The package's architecture (`Architecture:`, e.g. arm64); the box refuses any other than its own.
    public var architecture: String
    /// SHA-256 of the package file, 64 lower-case hex digits.
    public var sha256: String
    /// The package file's size in bytes.
    public var size: Int
    /// Where to fetch it on the control room that signed it: always ``pathPrefix`` + ``sha256``.
    public var path: String
    /// The lowest version the box may run from now on (nil: none beyond the box's own floor).
    public var floor: String?
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

    public init(
        version: String, architecture: String, sha256: String, size: Int, floor: String?, device: String?,
        group: String? = nil, nonce: String, issued: RecordTime, expires: RecordTime
    ) {
        format = 1
        kind = UpdateDocument.kindName
        package = UpdateDocument.packageName
        self.version = version
        self.architecture = architecture
        self.sha256 = sha256
        self.size = size
        path = UpdateDocument.pathPrefix + sha256
        self.floor = floor
        self.device = device
        self.group = group
        self.nonce = nonce
        self.issued = issued
        self.expires = expires
    }

    enum CodingKeys: String, CodingKey {
        case format = "v"
        case kind, package, version, architecture, sha256, size, path, floor, device, group, nonce, issued, expires
    }

    /// Whether `text` is a SHA-256 as the update channel writes it: 64 lower-case hex digits.
    public static func isSHA256(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        kind = try container.decode(String.self, forKey: .kind)
        guard kind == UpdateDocument.kindName else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "kind is \(kind), expected \(UpdateDocument.kindName)")
        }
        package = try container.decode(String.self, forKey: .package)
        version = try container.decode(String.self, forKey: .version)
        architecture = try container.decode(String.self, forKey: .architecture)
        sha256 = try container.decode(String.self, forKey: .sha256)
        size = try container.decode(Int.self, forKey: .size)
        path = try container.decode(String.self, forKey: .path)
        floor = try container.decodeIfPresent(String.self, forKey: .floor)
        device = try container.decodeIfPresent(String.self, forKey: .device)
        group = try container.decodeIfPresent(String.self, forKey: .group)
        nonce = try container.decode(String.self, forKey: .nonce)
        issued = try container.decode(RecordTime.self, forKey: .issued)
        expires = try container.decode(RecordTime.self, forKey: .expires)
        let problem: String? =
            if (device == nil) == (group == nil) {
                "give exactly one of device and group"
            } else if package != UpdateDocument.packageName {
                "package is \(package), not \(UpdateDocument.packageName)"
            } else if !UpdateDocument.isSHA256(sha256) { "sha256 is not 64 lower-case hex digits" } else if size <= 0 {
                "size is not positive"
            } else if path != UpdateDocument.pathPrefix + sha256 {
                "path is not \(UpdateDocument.pathPrefix)<sha256>"
            } else if DebianVersion(version) == nil {
                "version \(version) is not a Debian version"
            } else if let floor, DebianVersion(floor) == nil { "floor \(floor) is not a Debian version" } else { nil }
        if let problem {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: problem)
        }
    }
}
