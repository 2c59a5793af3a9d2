import ControlRoomKit
import Foundation
import PanicCore
import PanicDaemon
import PanicSigning

/// The fleet's rollout scenario (`panicd sim --fleet N --scenario rollout`, docs/updates.md → *Update rollouts*):
/// from the embedded control room, a configuration rollout, then a good update, then a broken update (a package
/// whose panicd never arms) roll out in stages to the whole fleet while the usual schedule of presses, outages,
/// power cuts and server faults runs. The control room's own rollout steps (`ControlRoom.advanceRollouts`, what
/// `controlroom serve`'s rollout service runs) decide; the boxes apply, install, restart and roll back on the
/// daemon's code (`BoxManagement`). The broken rollout must pause by itself at its first stage, its boxes roll
/// back by themselves, and no later box is ever pushed it.
///
/// Driven by the runner's task: not `Sendable`.
final class FleetRollout {
    /// One rollout of the scenario.
    struct Phase {
        enum Push {
            case config(String)
            case update(UpdateArtifact)
        }
        var label: String
        var push: Push
        /// Whether the scenario expects it to pause (the broken package) rather than finish.
        var expectPause: Bool
    }

    /// One settled stage, as printed.
    struct StageLine: Sendable {
        var rollout: Int64
        var label: String
        var stage: Int
        var stages: Int
        var devices: Int
        var healthy: Int
        var failed: Int
        var rolledBack: Int
        var outcome: String
        var committed: Int
        var received: Int
        var lost: Int

        var text: String {
            "rollout \(rollout) (\(label)) stage \(stage) of \(stages): \(devices) devices, \(healthy) healthy, "
                + "\(failed) failed, \(rolledBack) rolled back — \(outcome); delivery audit: \(committed) committed, "
                + "\(received) received by identity (sequence + hash), \(lost) lost"
        }
    }

    static let group = "fleet"
    static let oldVersion = "0.9.0"
    static let goodVersion = "0.9.1"
    static let brokenVersion = "0.9.2"
    /// How long a pushed box has to come back healthy (the broken stage fails at it).
    static let wait: Int64 = 8 * 60_000
    /// How long the simulated update agent waits for a new version to arm and deliver.
    static let agentHealthTimeout = Duration.seconds(180)
    /// When the first rollout starts.
    static let firstStart = Duration.seconds(45)
    /// The scenario's shortest schedule: three rollouts of three stages, the last one waiting out `wait`.
    static let minimumDuration = Duration.seconds(30 * 60)

    let room: ControlRoom
    let packages: UpdatePackages
    let boxes: [SimulatedBox]
    let client: any ControlRoomClient
    let print: @Sendable (String) -> Void
    /// Wall time (epoch ms) when the run started: the rollouts' deadlines are on it.
    let startMs: Int64
    private var rolloutDeadline: Duration?
    private(set) var phases: [Phase] = []
    private var next = 0
    private var startAt = FleetRollout.firstStart
    private var running: (id: Int64, phase: Int, stage: Int)?
    private(set) var lines: [StageLine] = []
    /// Each rollout's id and final state.
    private(set) var finished: [(id: Int64, phase: Int, state: RolloutState)] = []

    init(
        room: ControlRoom, packages: UpdatePackages, boxes: [SimulatedBox], client: any ControlRoomClient,
        startMs: Int64, directory: String, print: @escaping @Sendable (String) -> Void
    ) throws {
        self.startMs = startMs
        self.room = room
        self.packages = packages
        self.boxes = boxes
        self.client = client
        self.print = print
        phases = [
            Phase(label: "config: health every 2 min", push: .config("rates:\n  health: 120s\n"), expectPause: false),
            Phase(
                label: "update \(Self.goodVersion)",
                push: .update(try Self.package(Self.goodVersion, in: directory, packages: packages)),
                expectPause: false),
            Phase(
                label: "update \(Self.brokenVersion), never arms",
                push: .update(try Self.package(Self.brokenVersion, in: directory, packages: packages)),
                expectPause: true),
        ]
    }

    /// A stand-in package of `version` stored and described as `controlroom update push` stores one (the
    /// simulated agent installs by version; the bytes only have to match the signed size and SHA-256).
    static func package(_ version: String, in directory: String, packages: UpdatePackages) throws -> UpdateArtifact {
        let name = "panicbridge_\(version)_\(BoxManagement.architecture).deb"
        let bytes = Data("simulated panicbridge \(version)\n".utf8) + Data(repeating: 0x5a, count: 4096)
        let path = directory + "/" + name
        try bytes.write(to: URL(fileURLWithPath: path))
        let artifact = try UpdateArtifact(
            package: UpdateDocument.packageName, version: version, architecture: BoxManagement.architecture,
            sha256: PackageDigest.sha256(bytes), size: bytes.count)
        _ = try packages.store(path, sha256: artifact.sha256, size: artifact.size)
        try packages.describe(artifact, name: name)
        return artifact
    }

    /// When the scenario next needs a look without news from a box: a rollout to start, or a pushed box's `--wait`
    /// running out.
    func nextDeadline(elapsed: Duration) -> Duration? {
        if running == nil { return next < phases.count ? max(startAt, elapsed) : nil }
        return rolloutDeadline
    }

    /// Whether every rollout has finished (done, or paused where the scenario expects it).
    var isOver: Bool { running == nil && next >= phases.count }

    /// One look: starts the next rollout when due, takes the running one a step, prints each stage as it settles.
    func step(elapsed: Duration) async throws {
        if running == nil, next < phases.count, elapsed >= startAt {
            let phase = phases[next]
            let row: RolloutRow
            switch phase.push {
            case .config(let settings):
                row = try await room.startConfigRollout(
                    group: Self.group, settings: settings, stages: [10, 50, 100], maxFailedPercent: 0,
                    waitMs: Self.wait, by: AuditActor(user: "sim-admin", role: .admin), reason: "fleet scenario")
            case .update(let artifact):
                row = try await room.startUpdateRollout(
                    group: Self.group, artifact: artifact, stages: [10, 50, 100], maxFailedPercent: 0,
                    waitMs: Self.wait, by: AuditActor(user: "sim-admin", role: .admin), reason: "fleet scenario")
            }
            running = (row.id, next, 0)
            next += 1
            print(
                line(elapsed, "rollout \(row.id) started: \(phase.label) to group \(Self.group) in stages 10,50,100 %"))
        }
        guard let current = running else { return }
        rolloutDeadline = try await room.advanceRollouts().nextDeadlineMs.map { .milliseconds($0 - startMs + 1) }
        let status = try await room.rolloutStatus(id: current.id)
        let stages = (status.devices.map(\.row.stage).max() ?? 0) + 1
        let settledStage = status.rollout.state == .running ? status.rollout.stage : status.rollout.stage + 1
        var stage = current.stage
        while stage < settledStage {
            let outcome =
                stage < status.rollout.stage || status.rollout.state == .done
                ? "settled" : status.rollout.state.rawValue
            lines.append(try await summary(status, stage: stage, stages: stages, outcome: outcome))
            print(line(elapsed, lines[lines.count - 1].text))
            stage += 1
        }
        running?.stage = stage
        switch status.rollout.state {
        case .running: return
        case .done, .paused, .aborted:
            finished.append((current.id, current.phase, status.rollout.state))
            running = nil
            startAt = elapsed + .seconds(30)
            if status.rollout.state == .paused {
                let waiting = status.devices.count { $0.row.state == .waiting }
                print(
                    line(
                        elapsed,
                        "rollout \(current.id) paused by itself at stage \(status.rollout.stage + 1): "
                            + "\(waiting) devices of later stages never pushed"))
                next = phases.count
            }
        }
    }

    private func summary(_ status: RolloutStatus, stage: Int, stages: Int, outcome: String) async throws -> StageLine {
        let members = status.devices.filter { $0.row.stage == stage }
        let version = members.first?.row.version ?? ""
        let byDevice = Dictionary(uniqueKeysWithValues: boxes.map { ($0.deviceID, $0) })
        let rolledBack = members.count { member in
            byDevice[member.row.device]?.management?.outcomes.contains {
                if case .rolledBack(let failed, _) = $0 { failed == version } else { false }
            } == true
        }
        var (committed, received, lost) = (0, 0, 0)
        for unit in boxes where unit.isOn {
            let audit = try await unit.audit(against: client)
            committed += audit.committed
            received += audit.delivered
            lost += audit.lost
        }
        return StageLine(
            rollout: status.rollout.id, label: phases[running?.phase ?? 0].label, stage: stage + 1, stages: stages,
            devices: members.count, healthy: members.count { $0.row.state == .healthy },
            failed: members.count { $0.row.state == .failed }, rolledBack: rolledBack, outcome: outcome,
            committed: committed, received: received, lost: lost)
    }

    /// The scenario's checks after the drain, each with whether it held.
    func expectations() async throws -> [(String, Bool)] {
        var checks: [(String, Bool)] = []
        checks.append(("every rollout started and finished", finished.count == phases.count))
        for (id, phase, state) in finished {
            let status = try await room.rolloutStatus(id: id)
            if phases[phase].expectPause {
                checks.append(
                    (
                        "rollout \(id) (\(phases[phase].label)) paused by itself at stage 1",
                        state == .paused && status.rollout.stage == 0
                    ))
                let first = status.devices.filter { $0.row.stage == 0 }
                let byDevice = Dictionary(uniqueKeysWithValues: boxes.map { ($0.deviceID, $0) })
                // The pause stops the rollout's bookkeeping at the first failure beyond the threshold; the other
                // boxes of the stage roll back all the same, by their own agent's timer.
                let failed = first.count { $0.row.state == .failed }
                checks.append(
                    (
                        "its \(first.count) stage-1 boxes all rolled back by themselves to \(Self.goodVersion) "
                            + "(\(failed) counted failed before the pause, none healthy)",
                        failed > 0 && first.allSatisfy { $0.row.state != .healthy }
                            && first.allSatisfy { member in
                                byDevice[member.row.device]?.management?.outcomes.contains(
                                    .rolledBack(Self.brokenVersion, to: Self.goodVersion)) == true
                            }
                    ))
                var neverPushed = true
                for member in status.devices where member.row.stage > 0 {
                    let queued = try await room.store.lastQueued(device: member.row.device, action: UpdateQueue.action)
                    if queued?.alert == UpdateQueue.alert(version: Self.brokenVersion) { neverPushed = false }
                }
                checks.append(
                    (
                        "the \(status.devices.count { $0.row.stage > 0 }) boxes of later stages never got \(Self.brokenVersion)",
                        neverPushed && status.devices.allSatisfy { $0.row.stage == 0 || $0.row.state == .waiting }
                    ))
            } else {
                checks.append(
                    (
                        "rollout \(id) (\(phases[phase].label)) done, all \(status.devices.count) boxes healthy",
                        state == .done && status.devices.allSatisfy { $0.row.state == .healthy }
                    ))
            }
        }
        // The agents checked every spooled update again and refused none (a refusal would name its kind here).
        let refusals = boxes.flatMap { unit in
            (unit.management?.outcomes ?? []).compactMap { outcome -> String? in
                if case .refused(let kind) = outcome { "\(unit.name): \(kind)" } else { nil }
            }
        }
        checks.append(
            (
                "no update agent refused a spooled update"
                    + (refusals.isEmpty ? "" : " (\(refusals.joined(separator: ", ")))"), refusals.isEmpty
            ))
        let versions = Set(boxes.compactMap { $0.management?.software })
        checks.append(("every box runs \(Self.goodVersion) at the end", versions == [Self.goodVersion]))
        return checks
    }

    /// The audit lines of the scenario's rollouts (pushes of the first box of each stage only), as stored.
    func auditLines() async throws -> [String] {
        let names = Set(finished.map { "rollout-\($0.id)" })
        var firstPush: Set<String> = []
        return try await room.audit().compactMap { entry -> String? in
            if names.contains(entry.alert) {
                return
                    "\(entry.time) \(entry.action.rawValue) by=\(entry.user) \(entry.alert) \(entry.device) \(entry.reason)"
            }
            guard entry.action == .updatePush || entry.action == .configPush,
                let name = names.first(where: { entry.reason.hasPrefix($0 + " stage ") }),
                firstPush.insert(name + entry.reason).inserted
            else { return nil }
            return
                "\(entry.time) \(entry.action.rawValue) by=\(entry.user) \(entry.device) \(entry.alert) \(entry.reason) (first of its stage)"
        }
    }
}
