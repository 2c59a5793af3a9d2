import Crypto
import Foundation
import PanicCore
import PanicSigning

/// Gets an RFC 3161 timestamp token (DER `TimeStampResp`) over some bytes from a time-stamping authority.
public typealias EvidenceTimestamper = @Sendable (Data) async throws -> Data

extension ControlRoom {
    /// The alert with this id (of `device`, when given); throws when there is none, or several and no device.
    public func findAlert(id: String, device: String? = nil) async throws -> AlertView {
        // With the device, one row; without it (the command line), every alert is read to find the id.
        let scope: AlertScope = device.map { .one(device: $0, alert: id) } ?? .all
        let matches = try await store.alerts(scope, now: wallClock()).filter {
            $0.id == id && (device == nil || $0.device == device)
        }
        guard let alert = matches.first else { throw EvidenceError.unknownAlert(id) }
        guard matches.count == 1 else { throw EvidenceError.ambiguousAlert(id, devices: matches.map(\.device)) }
        return alert
    }

    /// Reads what an evidence bundle of one alert needs (the store only reads) and assembles it
    /// (`EvidenceBundle`), signed with the control room's key; logs the bundle's leaf in the evidence log and
    /// attaches the signed checkpoint and the inclusion proof; with `timestamp`, attaches an RFC 3161 token over
    /// the manifest. Writes an `evidence-export` audit line for `actor`. `device` picks the alert when its id is
    /// stored for several devices.
    public func exportEvidence(
        alert id: String, device: String? = nil, before: Duration = .seconds(600), by actor: AuditActor,
        timestamp: EvidenceTimestamper? = nil
    ) async throws -> EvidenceBundle {
        guard let signer else { throw ControlRoomError.noSigningKey }
        let now = wallClock()
        let alert = try await findAlert(id: id, device: device)
        let registry = try await store.registry()
        let deviceHistory = try await store.audit(device: alert.device, alert: nil).filter {
            [.deviceAdd, .deviceRemove, .deviceRename, .metadataEdit].contains($0.action)
        }
        let source = EvidenceSource(
            alert: alert, key: registry.byDevice[alert.device]?.identity,
            metadata: try await store.metadata(device: alert.device),
            envelopes: try await store.envelopes(device: alert.device, from: 1, afterRowID: 0).map(\.envelope),
            audit: try await store.audit(device: alert.device, alert: alert.id).filter {
                $0.action != .evidenceExport
            },
            registration: deviceHistory, commands: try await store.commands(device: alert.device, alert: alert.id))
        var bundle = try EvidenceBundle.assemble(source, before: before, controlRoom: signer.identity) {
            try signer.sign(payload: $0)
        }
        // The evidence log: this bundle's leaf, the checkpoint over the whole log, the path from one to the other.
        let leaf = EvidenceInclusion.leaf(device: alert.device, alert: alert.id, manifest: bundle.manifest)
        let (leaves, index) = try await store.logEvidence(leaf: leaf, now: now)
        let inclusion = EvidenceInclusion(leaves: leaves, index: index)
        let origin = Checkpoint.origin(signer.identity)
        let root = MerkleTree.root(leaves.map { MerkleTree.leafHash(Data($0.utf8)) }[...])
        let note = try Checkpoint.sign(
            body: Checkpoint.body(origin: origin, size: leaves.count, root: root), name: origin,
            identity: signer.identity
        ) { try signer.signature(for: $0) }
        let kept = try await store.keepCheckpoint(size: leaves.count, note: note, now: now)
        bundle.attachments["checkpoint"] = Data(kept.utf8)
        bundle.attachments["inclusion.json"] = try EvidenceBundle.json(inclusion)
        if let timestamp {
            bundle.attachments["manifest.tsr"] = try await timestamp(bundle.manifest)
        }
        bundle.attachments["certificate.html"] = Data(
            EvidenceCertificate.html(
                EvidenceCertificate.Facts(
                    alert: alert, key: source.key, metadata: source.metadata,
                    caseNumbers: CaseNumbers.current(source.audit), controlRoom: signer.identity, exported: now),
                bundle: bundle
            ).utf8)
        try await store.appendAudit(
            NewAuditEntry(
                action: .evidenceExport, actor: actor, device: alert.device, alert: alert.id,
                reason: "manifest sha256 \(EvidenceBundle.hex(SHA256.hash(data: bundle.manifest)))", now: now),
            requireAlert: false)
        return bundle
    }
}
