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
        // The evidence log: the leaf logged when the alert closed, and the checkpoint signed then; while the alert
        // is open, this bundle's leaf now.
        let logged = try await store.evidenceLeaves()
        let leaves: [String]
        let inclusion: EvidenceInclusion
        if let index = EvidenceInclusion.closed(device: alert.device, alert: alert.id, in: logged) {
            leaves = Array(logged[...index])
            inclusion = EvidenceInclusion(leaves: leaves, index: index, logged: .close)
        } else {
            let leaf = EvidenceInclusion.leaf(device: alert.device, alert: alert.id, manifest: bundle.manifest)
            let index: Int
            (leaves, index) = try await store.logEvidence(leaf: leaf, now: now)
            inclusion = EvidenceInclusion(leaves: leaves, index: index, logged: .export)
        }
        // The checkpoint kept for that size: the one signed when the alert closed, when it did.
        let kept = try await keepCheckpoint(leaves: leaves, signer: signer, now: now)
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

    /// Every leaf of the evidence log, in log order.
    public func evidenceLog() async throws -> [String] {
        try await store.evidenceLeaves()
    }

    /// Signs the checkpoint over `leaves` (the log up to some size) and keeps it, unless one was kept for that size
    /// before; returns the one kept.
    func keepCheckpoint(leaves: [String], signer: CommandSigner, now: RecordTime) async throws -> String {
        let origin = Checkpoint.origin(signer.identity)
        let root = MerkleTree.root(leaves.map { MerkleTree.leafHash(Data($0.utf8)) }[...])
        let note = try Checkpoint.sign(
            body: Checkpoint.body(origin: origin, size: leaves.count, root: root), name: origin,
            identity: signer.identity
        ) { try signer.signature(for: $0) }
        return try await store.keepCheckpoint(size: leaves.count, note: note, now: now)
    }

    /// Logs an alert in the evidence log when it closes (the box's `cleared` record is taken in, or an operator
    /// clears it): the leaf names the last record of its chain then (`EvidenceBundle.chain` decides which), and a
    /// signed checkpoint is kept over the log with it. A failure is logged, never thrown: the close itself stands.
    func logClosedAlert(device: String, alert id: String) async {
        guard let signer else { return }
        do {
            let now = wallClock()
            let alert = try await findAlert(id: id, device: device)
            let source = EvidenceSource(
                alert: alert, key: nil, metadata: nil,
                envelopes: try await store.envelopes(device: device, from: alert.sequence, afterRowID: 0).map(
                    \.envelope),
                audit: [], registration: [], commands: [])
            let (chain, _) = try EvidenceBundle.chain(source, before: .zero)
            guard let head = chain.records.last else { return }
            let leaf = EvidenceInclusion.closeLeaf(device: device, alert: id, seq: head.seq, sha256: head.sha256)
            let (leaves, _) = try await store.logEvidence(leaf: leaf, now: now)
            _ = try await keepCheckpoint(leaves: leaves, signer: signer, now: now)
        } catch {
            logger.error(
                "could not log the closed alert in the evidence log",
                metadata: ["device": "\(device)", "alert": "\(id)", "error": "\(error)"])
        }
    }
}
