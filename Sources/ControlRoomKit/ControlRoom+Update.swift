import Foundation
import Logging
import PanicCore
import PanicSigning

extension ControlRoom {
    /// Signs a software update document for `device` (docs/updates.md): the package `artifact` (already stored
    /// under its SHA-256 in the control room's `UpdatePackages`), the `floor` below which the box never goes (nil:
    /// none beyond its own), valid for `lifetime`; and queues it with the commands the device's next answer carries,
    /// with an audit line (`update-push`) in the same transaction. The one function a rollout calls per device.
    /// The box checks it again in full; here only what needs no box: a registered device, a signing key, a floor
    /// that is a Debian version not above the package's.
    public func queueUpdate(
        device: String, artifact: UpdateArtifact, floor: String? = nil,
        lifetime: Duration = .seconds(7 * 24 * 3600), by actor: AuditActor, reason: String = ""
    ) async throws -> IssuedUpdate {
        guard let signer else { throw ControlRoomError.noSigningKey }
        if let floor {
            guard let parsed = DebianVersion(floor) else {
                throw DeskError.badRequest("the floor \(floor) is not a Debian version")
            }
            guard let version = DebianVersion(artifact.version), parsed <= version else {
                throw DeskError.badRequest("the floor \(floor) is above the package's version \(artifact.version)")
            }
        }
        let now = wallClock()
        let expires = RecordTime(epochMilliseconds: now.epochMilliseconds + lifetime.components.seconds * 1000)
        let document = UpdateDocument(
            version: artifact.version, architecture: artifact.architecture, sha256: artifact.sha256,
            size: artifact.size, floor: floor, device: device, nonce: ControlRoom.makeNonce(), issued: now,
            expires: expires)
        let issued = IssuedUpdate(document: document, envelope: try signer.sign(document))
        let detail = "sha256 \(artifact.sha256), floor \(floor ?? "none"), expires \(expires)"
        try await store.queueUpdate(
            device: device, issued: issued,
            audit: NewAuditEntry(
                action: .updatePush, actor: actor, device: device, alert: "",
                reason: reason.isEmpty ? detail : "\(reason); \(detail)", now: now))
        logger.notice(
            "update queued",
            metadata: [
                "device": "\(device)", "version": "\(artifact.version)", "sha256": "\(artifact.sha256)",
                "by": "\(actor.user)",
            ])
        return issued
    }

    /// Whether a package download (`GET /v1/updates/<sha256>`) comes from a registered device: the device's signed
    /// claim (`DownloadProof`) for this very hash, fresh on this control room's clock. Nil when it may have the
    /// package, else why not.
    public func authorizeDownload(proof: String?, sha256: String) async throws -> BatchProofRefusal? {
        guard let proof else { return .missing }
        let registry = try await store.registry()
        switch DownloadProof.verify(proof, sha256: sha256, key: { registry.byDevice[$0] }) {
        case .failure(let refusal): return refusal
        case .success(let claim):
            return RequestReplayGuard.isFresh(claim, now: wallClock()) ? nil : .stale
        }
    }
}
