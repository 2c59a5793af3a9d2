import Foundation
import PanicCore
import PanicSigning

/// Why the box (panicd, or the root install agent checking again) refused a software update document or its
/// package (docs/updates.md). Every refusal is logged with this text.
public enum UpdateRefusal: Error, Equatable, CustomStringConvertible {
    /// The signature or the envelope is wrong, or it is signed by a key other than the pinned control-room key
    /// (`CommandSignatureError.unknownKey`: the wrong key).
    case forged(CommandSignatureError)
    /// No backend pins a control-room key, so no update can be trusted.
    case noPinnedKey
    /// The document names another device.
    case wrongDevice(String)
    /// The document names a group the box is not in.
    case wrongGroup(String)
    /// The document's expiry has passed on the control room's clock as the box knows it.
    case expired(RecordTime)
    /// The version is not newer than the installed one: a replay, or a downgrade.
    case notNewer(version: String, installed: String)
    /// The version is below the floor (the document's or the box's own, whichever is higher).
    case belowFloor(version: String, floor: String)
    /// This version was installed before and rolled back (it did not prove healthy).
    case rolledBack(String)
    /// The package is built for another architecture.
    case wrongArchitecture(String, expected: String)
    /// The downloaded file's size is not the signed one.
    case sizeMismatch(expected: Int, actual: Int)
    /// The downloaded file's SHA-256 is not the signed one.
    case hashMismatch(expected: String, actual: String)

    public var description: String {
        switch self {
        case .forged(let error): "forged update: \(LogText.quoted(error.description, limit: 200))"
        case .noPinnedKey: "no backend pins a control-room key: no update document can be trusted"
        case .wrongDevice(let device): "update is for device \(LogText.quoted(device, limit: 40))"
        case .wrongGroup(let group): "update is for group \(LogText.quoted(group, limit: 40))"
        case .expired(let time): "update expired at \(time)"
        case .notNewer(let version, let installed):
            "update version \(LogText.quoted(version, limit: 40)) is not newer than the installed \(installed) "
                + "(replayed or a downgrade)"
        case .belowFloor(let version, let floor):
            "update version \(LogText.quoted(version, limit: 40)) is below the floor \(floor)"
        case .rolledBack(let version):
            "update version \(LogText.quoted(version, limit: 40)) was rolled back before: never installed again"
        case .wrongArchitecture(let architecture, let expected):
            "update is for architecture \(LogText.quoted(architecture, limit: 20)), this box is \(expected)"
        case .sizeMismatch(let expected, let actual):
            "package is \(actual) bytes, the update document says \(expected)"
        case .hashMismatch(let expected, let actual):
            "package SHA-256 is \(actual), the update document says \(expected)"
        }
    }

    /// The refusal's name, for counting and the log.
    public var kind: String {
        switch self {
        case .forged(.unknownKey): "wrong-key"
        case .forged: "forged"
        case .noPinnedKey: "no-pinned-key"
        case .wrongDevice: "wrong-device"
        case .wrongGroup: "wrong-group"
        case .expired: "expired"
        case .notNewer: "replayed"
        case .belowFloor: "below-floor"
        case .rolledBack: "rolled-back"
        case .wrongArchitecture: "wrong-architecture"
        case .sizeMismatch: "size-mismatch"
        case .hashMismatch: "hash-mismatch"
        }
    }

    /// Whether the box acknowledges the document's nonce so the control room stops sending it: as for
    /// configuration documents, every refusal a resend cannot change (a forged one has no nonce worth it; an
    /// expired one the control room drops at its expiry; a failed download may succeed next time).
    public var isAcknowledged: Bool {
        switch self {
        case .forged, .noPinnedKey, .expired, .sizeMismatch, .hashMismatch: false
        case .wrongDevice, .wrongGroup, .notNewer, .belowFloor, .rolledBack, .wrongArchitecture: true
        }
    }
}

/// Decides whether a software update may be installed: signature against a pinned control-room key, the address
/// (device or group), the expiry on the control room's clock, the version against the installed one and the floor,
/// the architecture; then the package file against the signed size and SHA-256. Pure apart from the signature and
/// hash; the caller passes the time and what is installed. panicd runs it before it downloads, and the root install
/// agent runs it again on the spooled files before `dpkg -i` (it does not trust the panicd user).
public struct UpdateGate: Sendable {
    /// This device's id and group (nil: none).
    public var deviceID: String
    public var group: String?
    /// This box's Debian architecture (`dpkg --print-architecture`).
    public var architecture: String

    public init(deviceID: String, group: String?, architecture: String) {
        self.deviceID = deviceID
        self.group = group
        self.architecture = architecture
    }

    /// The signature check alone (the first verifier whose key id matches decides).
    public static func verify(
        _ envelope: String, verifiers: [CommandSignatureVerifier]
    ) -> Result<UpdateDocument, UpdateRefusal> {
        CommandSignatureVerifier.firstMatching(verifiers) { verifier throws(CommandSignatureError) in
            try verifier.verifyUpdate(envelope)
        }.mapError { failure in
            switch failure {
            case .noPinnedKey: .noPinnedKey
            case .forged(let error): .forged(error)
            }
        }
    }

    /// Checks a document's JWS, then `admit`s it.
    public func check(
        _ envelope: String, verifiers: [CommandSignatureVerifier], installed: String, agent: UpdateAgentState,
        now: RecordTime
    ) -> Result<UpdateDocument, UpdateRefusal> {
        switch Self.verify(envelope, verifiers: verifiers) {
        case .failure(let refusal): .failure(refusal)
        case .success(let document): admit(document, installed: installed, agent: agent, now: now)
        }
    }

    /// Decides on a document whose signature verified, at `now` on the control room's clock, with `installed` the
    /// installed package version and `agent` the install agent's state (the box's own floor, the versions rolled
    /// back).
    public func admit(
        _ document: UpdateDocument, installed: String, agent: UpdateAgentState, now: RecordTime
    ) -> Result<UpdateDocument, UpdateRefusal> {
        let floor = agent.floor
        if let device = document.device, device != deviceID { return .failure(.wrongDevice(device)) }
        if let wanted = document.group, wanted != group { return .failure(.wrongGroup(wanted)) }
        guard document.expires > now else { return .failure(.expired(document.expires)) }
        guard document.architecture == architecture || document.architecture == "all" else {
            return .failure(.wrongArchitecture(document.architecture, expected: architecture))
        }
        // The document decoded, so its version and floor parse; an installed version that does not parse is lowest.
        guard let version = DebianVersion(document.version) else {
            return .failure(.notNewer(version: document.version, installed: installed))
        }
        if let current = DebianVersion(installed), !(version > current) {
            return .failure(.notNewer(version: document.version, installed: installed))
        }
        let floors = [floor, document.floor].compactMap { $0.flatMap(DebianVersion.init) }
        if let highest = floors.max(), version < highest {
            return .failure(.belowFloor(version: document.version, floor: highest.description))
        }
        if agent.rolledBack.contains(where: { DebianVersion($0) == version }) {
            return .failure(.rolledBack(document.version))
        }
        return .success(document)
    }

    /// Checks the package file at `path` against the document's size and SHA-256 (never reading more than the
    /// signed size plus one byte); nil when it matches.
    public static func checkPackage(at path: String, against document: UpdateDocument) throws -> UpdateRefusal? {
        let (size, sha256) = try PackageDigest.of(path: path, limit: document.size)
        guard size == document.size else { return .sizeMismatch(expected: document.size, actual: size) }
        guard sha256 == document.sha256 else { return .hashMismatch(expected: document.sha256, actual: sha256) }
        return nil
    }
}
