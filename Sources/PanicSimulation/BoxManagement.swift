import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicSigning
import PanicUplink
import ServiceLifecycle
import Synchronization

/// The remote management of one simulated box, on the daemon's own code: its local `panicd.yaml` (pinning the
/// control room's key), the remote configuration kept on disk (`RemoteConfigFiles`) and run through the daemon's
/// `RemoteConfigService` (verify, check, apply, restart, revert on probation), the update documents run through the
/// daemon's `UpdateService` (verify, check, download, spool), and the simulator's twin of the root update agent
/// (`panicd update install`): the same `UpdateGate` checks again, "install" switches the box's software version
/// and restarts it, and the agent's own health rule (`UpdateAgent.isHealthy`: armed with a delivery) within its
/// timeout decides between keeping the version (the floor raised) and rolling back to the previous one by itself,
/// remembering the failed version (`UpdateAgentState`). A version in `broken` never arms: its panicd never gets a
/// batch through to the control room.
final class BoxManagement: Sendable {
    /// The architecture of the simulated packages.
    static let architecture = "sim"

    let deviceID: String
    let directory: String
    let localText: String
    let local: DaemonConfig
    let files: RemoteConfigFiles
    let spool: UpdateSpool
    let agentDirectory: String
    let broken: Set<String>
    /// How long the agent gives a new version to arm and deliver.
    let healthTimeout: Duration

    struct Trial: Sendable {
        var version: String
        var previous: String
        var until: Duration
    }

    /// What the agent did, for the report.
    enum Outcome: Sendable, Equatable {
        case installed(String)
        case rolledBack(String, to: String)
        case refused(String)
    }

    private struct State {
        var software: String
        var trial: Trial?
        var outcomes: [Outcome] = []
    }
    private let state: Mutex<State>

    init(
        deviceID: String, directory: String, controlRoomURL: String, controlRoomKey: DeviceIdentity, group: String,
        software: String, broken: Set<String>, healthTimeout: Duration
    ) throws {
        self.deviceID = deviceID
        self.directory = directory
        localText = """
            board: board.yaml
            key: device.key
            group: \(group)
            outbox:
              path: outbox.sqlite
            backends:
              - name: \(SimulatedBox.backend)
                url: \(controlRoomURL)
                controlroom_key: \(controlRoomKey.publicKeyBase64URL)
            """
        let parsed = DaemonConfig.parse(localText, relativeTo: URL(fileURLWithPath: directory))
        guard let local = parsed.config else {
            throw SimulationError("the simulated panicd.yaml: \(parsed.problems.map(\.description))")
        }
        self.local = local
        files = RemoteConfigFiles(directory: directory + "/remote-config")
        spool = UpdateSpool(directory: directory + "/update-spool")
        agentDirectory = directory + "/update-agent"
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: agentDirectory, withIntermediateDirectories: true)
        self.broken = broken
        self.healthTimeout = healthTimeout
        state = Mutex(State(software: software))
    }

    /// The installed version.
    var software: String { state.withLock { $0.software } }
    /// Whether the installed version is one that never arms.
    var runsBrokenVersion: Bool { broken.contains(software) }
    var outcomes: [Outcome] { state.withLock { $0.outcomes } }
    /// The end of the running trial of a new version, if one runs.
    var trialEnds: Duration? { state.withLock { $0.trial?.until } }

    /// The configuration to run: the local file with the applied document merged over it (the daemon's rule).
    func effective() -> (config: DaemonConfig, version: Int?) {
        let effective = files.effective(
            local: local, localText: localText, localBase: URL(fileURLWithPath: directory), deviceID: deviceID)
        return (effective.config, effective.version == 0 ? nil : effective.version)
    }

    /// The daemon's services for remote configuration and updates, for one run of the box's panicd.
    func services(
        uplink: Uplink, deliveries: AsyncStream<Void>, clock: any MonotonicClock, restart: RestartRequest,
        logger: Logger
    ) -> [any Service] {
        let effective = effective()
        let setup = RemoteConfigSetup(
            local: local, localText: localText, localBase: URL(fileURLWithPath: directory), version: effective.version)
        let agentDirectory = agentDirectory
        let software = software
        return [
            RemoteConfigService(
                uplink: uplink, files: files,
                gate: RemoteConfigGate(
                    deviceID: deviceID, localText: localText, localBase: URL(fileURLWithPath: directory)),
                setup: setup, deliveries: deliveries, clock: clock, restart: restart, logger: logger),
            UpdateService(
                uplink: uplink,
                gate: UpdateGate(deviceID: deviceID, group: local.group, architecture: Self.architecture),
                spool: spool, installed: { software }, agent: { UpdateAgentState.load(directory: agentDirectory) },
                logger: logger),
        ]
    }

    /// The agent's turn when panicd spooled an update: checks it again as `panicd update install` does and, when
    /// it passes, "installs" it (the box's software switches; the caller restarts the box) and starts its trial.
    /// Returns whether the box must restart on a new version.
    func installSpooled(now: RecordTime, elapsed: Duration) -> Bool {
        guard let envelope = spool.document else { return false }
        let package = spool.packagePath
        defer { spool.clear() }
        var agent = UpdateAgentState.load(directory: agentDirectory)
        let installed = software
        let gate = UpdateGate(deviceID: deviceID, group: local.group, architecture: Self.architecture)
        let checked = gate.check(
            envelope, verifiers: RemoteConfigGate.verifiers(local), installed: installed, agent: agent, now: now)
        let document: UpdateDocument
        switch checked {
        case .failure(let refusal):
            state.withLock { $0.outcomes.append(.refused("\(refusal.kind)")) }
            return false
        case .success(let accepted): document = accepted
        }
        let refusal: UpdateRefusal?
        do { refusal = try UpdateGate.checkPackage(at: package, against: document) } catch {
            refusal = .hashMismatch(expected: document.sha256, actual: "unreadable: \(error)")
        }
        if let refusal {
            state.withLock { $0.outcomes.append(.refused("\(refusal.kind)")) }
            return false
        }
        agent.lastOutcome = "installing \(document.version)"
        try? agent.save(directory: agentDirectory)
        state.withLock {
            $0.trial = Trial(version: document.version, previous: installed, until: elapsed + healthTimeout)
            $0.software = document.version
        }
        return true
    }

    /// The agent's health wait, at `elapsed`, with the restarted panicd's status (nil: not running): healthy
    /// (armed with a delivery) keeps the version and raises the floor; the timeout rolls back to the previous
    /// version and remembers the failed one. Returns whether the box must restart (a rollback).
    func checkTrial(status: BoxStatus?, elapsed: Duration) -> Bool {
        guard let trial = state.withLock({ $0.trial }) else { return false }
        var agent = UpdateAgentState.load(directory: agentDirectory)
        if let status, UpdateAgent.isHealthy(status) {
            agent.raiseFloor(to: trial.version)
            agent.lastOutcome = "installed \(trial.version), healthy"
            try? agent.save(directory: agentDirectory)
            state.withLock {
                $0.trial = nil
                $0.outcomes.append(.installed(trial.version))
            }
            return false
        }
        guard elapsed >= trial.until else { return false }
        agent.remember(rolledBack: trial.version)
        agent.lastOutcome = "rolled back \(trial.version) to \(trial.previous)"
        try? agent.save(directory: agentDirectory)
        state.withLock {
            $0.trial = nil
            $0.software = trial.previous
            $0.outcomes.append(.rolledBack(trial.version, to: trial.previous))
        }
        return true
    }
}
