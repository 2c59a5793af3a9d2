import Foundation
import Logging
import PanicCore
import PanicSigning

extension ControlRoom {
    /// Signs a configuration document for `device` (the remotely settable part of `panicd.yaml`, `settings` as
    /// YAML; docs/configuration.md → *Remote configuration*) at the version after the device's newest queued one,
    /// valid for `lifetime`, and queues it with the commands the device's next answer carries, with an audit line
    /// (`config-push`) in the same transaction. The box checks it again in full (it is the authority on what it
    /// accepts); here only what needs no box: a registered device, a signing key, some settings.
    public func pushConfig(
        device: String, settings: String, lifetime: Duration = .seconds(7 * 24 * 3600), by actor: AuditActor,
        reason: String = ""
    ) async throws -> IssuedConfig {
        guard let signer else { throw ControlRoomError.noSigningKey }
        guard !settings.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DeskError.badRequest("the configuration document has no settings")
        }
        let now = wallClock()
        let expires = RecordTime(epochMilliseconds: now.epochMilliseconds + lifetime.components.seconds * 1000)
        let nonce = ControlRoom.makeNonce()
        let issued = try await store.queueConfig(
            device: device,
            issue: { version in
                let document = ConfigDocument(
                    version: version, device: device, nonce: nonce, issued: now, expires: expires, settings: settings)
                return IssuedConfig(document: document, envelope: try signer.sign(document))
            },
            audit: NewAuditEntry(
                action: .configPush, actor: actor, device: device, alert: "",
                reason: reason.isEmpty ? "expires \(expires)" : reason, now: now))
        logger.notice(
            "configuration queued",
            metadata: ["device": "\(device)", "version": "\(issued.document.version)", "by": "\(actor.user)"])
        return issued
    }
}
