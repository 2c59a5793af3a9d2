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
        guard signer != nil else { throw ControlRoomError.noSigningKey }
        try Self.checkFloor(floor, of: artifact)
        let now = wallClock()
        let expires = RecordTime(epochMilliseconds: now.epochMilliseconds + lifetime.components.seconds * 1000)
        let issued = try signUpdate(device: device, artifact: artifact, floor: floor, now: now, expires: expires)
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

    /// A floor must be a Debian version not above the package's own (checked before anything is signed).
    static func checkFloor(_ floor: String?, of artifact: UpdateArtifact) throws {
        guard let floor else { return }
        guard let parsed = DebianVersion(floor) else {
            throw DeskError.badRequest("the floor \(floor) is not a Debian version")
        }
        guard let version = DebianVersion(artifact.version), parsed <= version else {
            throw DeskError.badRequest("the floor \(floor) is above the package's version \(artifact.version)")
        }
    }

    /// The signed update document of `artifact` for `device`: the one way one is made, for `update push --device`
    /// and for each device of an update rollout.
    func signUpdate(
        device: String, artifact: UpdateArtifact, floor: String?, now: RecordTime, expires: RecordTime
    ) throws -> IssuedUpdate {
        guard let signer else { throw ControlRoomError.noSigningKey }
        let document = UpdateDocument(
            version: artifact.version, architecture: artifact.architecture, sha256: artifact.sha256,
            size: artifact.size, floor: floor, device: device, nonce: ControlRoom.makeNonce(), issued: now,
            expires: expires)
        return IssuedUpdate(document: document, envelope: try signer.sign(document))
    }

    /// Whether a package download (`GET /v1/updates/<sha256>`) comes from a device the package was pushed to: the
    /// registered device's signed claim (`DownloadProof`) for this very hash, fresh on this control room's clock,
    /// and an unexpired update document naming the hash queued for that device (`update push --device` or an update
    /// rollout's stage). Nil when it may have the package, else why not (`notQueued`: another device's package).
    public func authorizeDownload(proof: String?, sha256: String) async throws -> BatchProofRefusal? {
        guard let proof else { return .missing }
        let registry = try await store.registry()
        switch DownloadProof.verify(proof, sha256: sha256, key: { registry.byDevice[$0] }) {
        case .failure(let refusal): return refusal
        case .success(let claim):
            let now = wallClock()
            guard RequestReplayGuard.isFresh(claim, now: now) else { return .stale }
            let queued = try await store.commands(device: claim.device, action: UpdateQueue.action)
            return queued.contains {
                $0.expiresMs > now.epochMilliseconds && UpdateQueue.sha256(envelope: $0.envelope) == sha256
            } ? nil : .notQueued
        }
    }
}
