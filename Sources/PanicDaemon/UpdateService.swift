import Foundation
import Logging
import PanicCore
import PanicUplink
import ServiceLifecycle

/// The box's side of software updates while it runs (docs/updates.md): takes the update documents the uplink
/// verified, decides on each with ``UpdateGate`` (device, expiry, newer than installed, not below the floor,
/// architecture), downloads the package from the control room that signed it, checks its size and SHA-256, and
/// spools both for the root install agent (`panicd update install`, started by `panicbridge-update.path`). panicd
/// installs nothing itself: it runs as user panicd under systemd's hardening.
public struct UpdateService: Service {
    let uplink: Uplink
    let gate: UpdateGate
    let spool: UpdateSpool
    /// The installed package's version and the install agent's state (floor, versions rolled back), read when a
    /// document arrives.
    let installed: @Sendable () -> String
    let agent: @Sendable () -> UpdateAgentState
    let logger: Logger

    public init(
        uplink: Uplink, gate: UpdateGate, spool: UpdateSpool, installed: @escaping @Sendable () -> String,
        agent: @escaping @Sendable () -> UpdateAgentState, logger: Logger
    ) {
        self.uplink = uplink
        self.gate = gate
        self.spool = spool
        self.installed = installed
        self.agent = agent
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await received in uplink.updateDocuments { await handle(received) }
        }
    }

    /// Decides on one document; downloads and spools an accepted one. Every refusal is logged with its reason and,
    /// when final, acknowledged, so the control room stops sending it.
    func handle(_ received: ReceivedUpdate) async {
        let document = received.document
        if spool.document == received.envelope {
            logger.info("update already spooled", metadata: ["version": "\(document.version)"])
            uplink.acknowledge(nonce: document.nonce)
            return
        }
        let decision = gate.admit(
            document, installed: installed(), agent: agent(), now: received.controlRoomTime)
        switch decision {
        case .failure(let refusal):
            refuse(refusal, received)
        case .success:
            do {
                try spool.prepare()
                spool.clear()
                try await received.download(spool.packagePath)
            } catch {
                logger.warning(
                    "update download failed: tried again when the control room sends the document again",
                    metadata: [
                        "version": "\(document.version)", "backend": "\(received.backend)",
                        "error": "\(LogText.quoted("\(error)", limit: 300))",
                    ])
                spool.clear()
                return
            }
            do {
                if let refusal = try UpdateGate.checkPackage(at: spool.packagePath, against: document) {
                    spool.clear()
                    refuse(refusal, received)
                    return
                }
                try spool.commit(document: received.envelope)
            } catch {
                logger.error("cannot spool the update", metadata: ["error": "\(error)"])
                spool.clear()
                return
            }
            uplink.acknowledge(nonce: document.nonce)
            logger.notice(
                "update spooled for the install agent",
                metadata: [
                    "version": "\(document.version)", "installed": "\(installed())", "sha256": "\(document.sha256)",
                    "backend": "\(received.backend)",
                ])
        }
    }

    func refuse(_ refusal: UpdateRefusal, _ received: ReceivedUpdate) {
        logger.warning(
            "update refused",
            metadata: [
                "version": "\(LogText.quoted(received.document.version, limit: 40))",
                "backend": "\(received.backend)", "kind": "\(refusal.kind)", "reason": "\(refusal)",
            ])
        if refusal.isAcknowledged { uplink.acknowledge(nonce: received.document.nonce) }
    }
}
