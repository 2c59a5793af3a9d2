import Foundation
import PanicConfig
import PanicCore
import PanicSigning

/// Why the box refused a configuration document (docs/configuration.md → *Remote configuration*). Every refusal
/// is logged with this text.
public enum ConfigRefusal: Error, Equatable, CustomStringConvertible {
    /// The signature or the envelope is wrong, or it is signed by a key other than the pinned control-room key
    /// (`CommandSignatureError.unknownKey`: the wrong key).
    case forged(CommandSignatureError)
    /// No backend pins a control-room key, so no document can be trusted.
    case noPinnedKey
    /// The document names another device.
    case wrongDevice(String)
    /// The document names a group the box is not in.
    case wrongGroup(String)
    /// The document's expiry has passed on the control room's clock as the box knows it.
    case expired(RecordTime)
    /// The document's version is not newer than the one applied (or one the box reverted): a replay.
    case replayed(version: Int, newest: Int)
    /// The overlay sets a key that stays local, or gives a configuration `panicd config check` refuses.
    case refusedOverlay(RemoteOverlay.Refusal)

    public var description: String {
        switch self {
        case .forged(let error): "forged configuration: \(LogText.quoted(error.description, limit: 200))"
        case .noPinnedKey: "no backend pins a control-room key: no configuration document can be trusted"
        case .wrongDevice(let device): "configuration is for device \(LogText.quoted(device, limit: 40))"
        case .wrongGroup(let group): "configuration is for group \(LogText.quoted(group, limit: 40))"
        case .expired(let time): "configuration expired at \(time)"
        case .replayed(let version, let newest):
            "configuration version \(version) is not newer than version \(newest) (replayed)"
        case .refusedOverlay(let refusal): "configuration refused: \(LogText.quoted(refusal.description, limit: 400))"
        }
    }

    /// Whether the box acknowledges the document's nonce so the control room stops sending it: as for commands,
    /// every refusal a resend cannot change is acknowledged; a forged one (no nonce worth it) and an expired one
    /// (the control room drops it at its expiry) are not.
    public var isAcknowledged: Bool {
        switch self {
        case .forged, .noPinnedKey, .expired: false
        case .wrongDevice, .wrongGroup, .replayed, .refusedOverlay: true
        }
    }

    /// The refusal's name, for counting and the health record.
    public var kind: String {
        switch self {
        case .forged(.unknownKey): "wrong-key"
        case .forged: "forged"
        case .noPinnedKey: "no-pinned-key"
        case .wrongDevice: "wrong-device"
        case .wrongGroup: "wrong-group"
        case .expired: "expired"
        case .replayed: "replayed"
        case .refusedOverlay(.localOnly): "local-only"
        case .refusedOverlay: "invalid"
        }
    }
}

/// A configuration document the gate accepted: the document, the merged `panicd.yaml` text and its configuration.
public struct AcceptedConfig: Sendable {
    public var document: ConfigDocument
    public var envelope: String
    public var mergedText: String
    public var config: DaemonConfig
}

/// Decides whether a configuration document may be applied: signature against a pinned control-room key, the
/// address (device or group), the expiry on the control room's clock, the version against the newest applied or
/// reverted, and the overlay merged over the local file as `panicd config check` would check it. Pure apart
/// from the signature check; the caller passes the time and the versions.
public struct RemoteConfigGate: Sendable {
    /// This device's id.
    public var deviceID: String
    /// The local file's text and where its relative paths are resolved.
    public var localText: String
    public var localBase: URL?

    public init(deviceID: String, localText: String, localBase: URL?) {
        self.deviceID = deviceID
        self.localText = localText
        self.localBase = localBase
    }

    /// The pinned control-room keys of the local file's `panicbridge` backends.
    public static func verifiers(_ config: DaemonConfig) -> [CommandSignatureVerifier] {
        config.backends.compactMap { backend in
            backend.controlRoomKey.flatMap { DeviceIdentity(publicKeyText: $0) }
                .map { CommandSignatureVerifier(controlRoom: $0) }
        }
    }

    /// Checks a document's JWS against `verifiers` (the first whose key id matches decides), then `admit`s it.
    public func check(
        _ envelope: String, verifiers: [CommandSignatureVerifier], local: DaemonConfig, newestVersion: Int,
        now: RecordTime
    ) -> Result<AcceptedConfig, ConfigRefusal> {
        switch Self.verify(envelope, verifiers: verifiers) {
        case .failure(let refusal): .failure(refusal)
        case .success(let document):
            admit(document, envelope: envelope, local: local, newestVersion: newestVersion, now: now)
        }
    }

    /// The signature check alone.
    public static func verify(
        _ envelope: String, verifiers: [CommandSignatureVerifier]
    ) -> Result<ConfigDocument, ConfigRefusal> {
        CommandSignatureVerifier.firstMatching(verifiers) { verifier throws(CommandSignatureError) in
            try verifier.verifyConfig(envelope)
        }.mapError { failure in
            switch failure {
            case .noPinnedKey: .noPinnedKey
            case .forged(let error): .forged(error)
            }
        }
    }

    /// Decides on a document whose signature verified, at `now` on the control room's clock.
    public func admit(
        _ document: ConfigDocument, envelope: String, local: DaemonConfig, newestVersion: Int, now: RecordTime
    ) -> Result<AcceptedConfig, ConfigRefusal> {
        if let device = document.device, device != deviceID { return .failure(.wrongDevice(device)) }
        if let group = document.group, group != local.group { return .failure(.wrongGroup(group)) }
        guard document.expires > now else { return .failure(.expired(document.expires)) }
        guard document.version > newestVersion else {
            return .failure(.replayed(version: document.version, newest: newestVersion))
        }
        switch RemoteOverlay.merge(overlay: document.settings, over: localText, relativeTo: localBase) {
        case .failure(let refusal): return .failure(.refusedOverlay(refusal))
        case .success(let merged):
            return .success(
                AcceptedConfig(document: document, envelope: envelope, mergedText: merged.text, config: merged.config))
        }
    }
}
