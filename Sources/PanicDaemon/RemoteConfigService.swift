import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicUplink
import ServiceLifecycle
import Synchronization

/// What the daemon runs besides its local file: the local file itself (the remote document is merged over it) and
/// the applied remote configuration's version (docs/configuration.md → *Remote configuration*).
public struct RemoteConfigSetup: Sendable {
    /// The local file as parsed, its text, and where its relative paths resolve.
    public var local: DaemonConfig
    public var localText: String
    public var localBase: URL?
    /// The applied document's version (nil: the local file alone).
    public var version: Int?
    /// The configuration running, as text: the local file with the document and the AIS-140 OTA changes merged
    /// (what an OTA command is mapped over); nil: the local text.
    public var currentText: String?

    public init(local: DaemonConfig, localText: String, localBase: URL?, version: Int?, currentText: String? = nil) {
        self.local = local
        self.localText = localText
        self.localBase = localBase
        self.version = version
        self.currentText = currentText
    }
}

/// Set when the daemon stops to take up another configuration: `panicd run` then exits with
/// ``RestartRequest/exitCode`` and systemd (`Restart=always`) starts it again on the new one. The outbox is closed
/// cleanly and reopened: an alert in flight stays in it and is sent again by the new lanes.
public final class RestartRequest: Sendable {
    /// EX_TEMPFAIL: not a failure, not a bad configuration (2, which the unit does not restart).
    public static let exitCode: Int32 = 75
    private let reason = Mutex<String?>(nil)
    public init() {}
    public var requested: String? { reason.withLock { $0 } }
    func request(_ why: String) { reason.withLock { $0 = $0 ?? why } }
}

/// The box's side of remote configuration while it runs: takes the configuration documents the uplink verified,
/// decides on each with ``RemoteConfigGate``, applies an accepted one (kept on disk with the previous one) and
/// stops the daemon so it starts again on it; and, while the applied one is on probation, reverts it by itself
/// when no backend takes a batch within `remote_config.revert_after`.
public struct RemoteConfigService: Service {
    let uplink: Uplink
    let files: RemoteConfigFiles
    let gate: RemoteConfigGate
    let setup: RemoteConfigSetup
    /// One element per batch a backend took (`BoxService` feeds it from the uplink's events).
    let deliveries: AsyncStream<Void>
    let clock: any MonotonicClock
    let restart: RestartRequest
    let logger: Logger
    /// AIS-140 OTA `SET`s applied (``AIS140OTADesk``), each a restart reason: the daemon restarts to take it up.
    var otaApplied: AsyncStream<String>?

    public init(
        uplink: Uplink, files: RemoteConfigFiles, gate: RemoteConfigGate, setup: RemoteConfigSetup,
        deliveries: AsyncStream<Void>, clock: any MonotonicClock, restart: RestartRequest, logger: Logger,
        otaApplied: AsyncStream<String>? = nil
    ) {
        self.uplink = uplink
        self.files = files
        self.gate = gate
        self.setup = setup
        self.deliveries = deliveries
        self.clock = clock
        self.restart = restart
        self.logger = logger
        self.otaApplied = otaApplied
    }

    public func run() async throws {
        // Graceful shutdown cancels the wait (each part then returns nil): no restart is owed.
        let reason = await cancelWhenGracefulShutdown {
            await withTaskGroup(of: String?.self) { group in
                if files.state.probation {
                    group.addTask { await probation() }
                }
                if let otaApplied {
                    group.addTask {
                        for await reason in otaApplied { return reason }
                        return nil
                    }
                }
                group.addTask {
                    for await received in uplink.configDocuments {
                        if let applied = handle(received) { return applied }
                    }
                    return nil
                }
                var reason: String?
                for await result in group {
                    if let result {
                        reason = result
                        break
                    }
                }
                group.cancelAll()
                return reason
            }
        }
        guard let reason else { return }
        restart.request(reason)
        logger.notice("restarting to take up the configuration", metadata: ["reason": "\(reason)"])
    }

    /// Waits for the applied configuration to deliver; reverts it when it does not in time. Returns the restart
    /// reason after a revert.
    func probation() async -> String? {
        let version = setup.version ?? files.appliedVersion
        let within = setup.local.remoteConfigRevertAfter
        logger.notice(
            "remote configuration on probation",
            metadata: ["version": "\(version)", "revert-after": "\(within.components.seconds)s"])
        switch await RemoteConfigProbation.watch(
            deliveries: deliveries, within: within, clock: clock)
        {
        case .delivered:
            do { try files.confirm() } catch {
                logger.error("cannot record the remote configuration as confirmed", metadata: ["error": "\(error)"])
            }
            logger.notice("remote configuration confirmed: a backend took a batch", metadata: ["version": "\(version)"])
            return nil
        case .timedOut:
            do {
                let reverted = try files.revert()
                logger.error(
                    "remote configuration reverted: no backend took a batch in time",
                    metadata: [
                        "version": "\(reverted)", "now": "\(files.appliedVersion)",
                        "revert-after": "\(within.components.seconds)s",
                    ])
                return "reverted configuration version \(reverted)"
            } catch {
                logger.error("cannot revert the remote configuration", metadata: ["error": "\(error)"])
                return nil
            }
        case .cancelled: return nil
        }
    }

    /// Decides on one document; returns the restart reason when it was applied. Every refusal is logged with its
    /// reason and, when final, acknowledged, so the control room stops sending it.
    func handle(_ received: ReceivedConfig) -> String? {
        let decision = gate.admit(
            received.document, envelope: received.envelope, local: setup.local, newestVersion: files.newestVersion,
            now: received.controlRoomTime)
        switch decision {
        case .failure(.replayed) where received.envelope == files.current:
            // The one applied: its acknowledgement was lost with the restart that took it up.
            logger.info("configuration already applied", metadata: ["version": "\(received.document.version)"])
            uplink.acknowledge(nonce: received.document.nonce)
            return nil
        case .failure(let refusal):
            logger.warning(
                "configuration refused",
                metadata: [
                    "version": "\(received.document.version)", "backend": "\(received.backend)",
                    "kind": "\(refusal.kind)", "reason": "\(refusal)",
                ])
            if refusal.isAcknowledged { uplink.acknowledge(nonce: received.document.nonce) }
            return nil
        case .success(let accepted):
            do {
                try files.apply(accepted.envelope)
            } catch {
                logger.error("cannot keep the remote configuration on disk", metadata: ["error": "\(error)"])
                return nil
            }
            uplink.acknowledge(nonce: received.document.nonce)
            logger.notice(
                "configuration applied",
                metadata: [
                    "version": "\(accepted.document.version)", "previous": "\(setup.version ?? 0)",
                    "backend": "\(received.backend)",
                    "backends": "\(accepted.config.backends.map(\.name).joined(separator: ","))",
                ])
            return "applied configuration version \(accepted.document.version)"
        }
    }
}
