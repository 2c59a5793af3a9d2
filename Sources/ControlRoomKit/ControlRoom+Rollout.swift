import Foundation
import Logging
import PanicCore
import PanicSigning

/// A rollout with each device's row and what is known of it now.
public struct RolloutStatus: Sendable, Hashable, Codable {
    public var rollout: RolloutRow
    public var devices: [RolloutDeviceStatus]
}

/// One device of a rollout: its row, whether the box acknowledged the document, what its newest health record
/// says it runs.
public struct RolloutDeviceStatus: Sendable, Hashable, Codable {
    public var row: RolloutDeviceRow
    public var acknowledged: Bool
    public var running: String?
}

/// A device's configuration as `controlroom config status` and the desk show it.
public struct DeviceConfigStatus: Sendable, Hashable, Codable {
    public var device: String
    public var group: String
    /// The newest document queued for it (`controlroom config push` or a rollout), and whether it acknowledged it.
    public var pushed: Int?
    public var acknowledged: Bool
    /// The version its newest health record reports (nil: the local file alone, or no health record yet).
    public var running: Int?
    /// `healthy`, `failed` or `pending` (or `waiting` for a stage not started) in the newest rollout that has the
    /// device; without one, `healthy` when it runs what was pushed, `pending` when not yet, `-` when nothing was.
    public var state: String
    /// That rollout, and why the device failed in it.
    public var rollout: Int64?
    public var reason: String
}

extension ControlRoom {
    /// Who writes the rollout service's own audit lines (a stage started, a device failed, a pause, done).
    public static let rolloutActor = AuditActor(user: "controlroom", role: nil)

    /// How many of a device's newest health records a rollout looks at.
    static let rolloutHealthDepth = 16

    // MARK: Groups

    /// Puts a device in a group of the control room's own (empty: in none), audited as a metadata edit.
    public func setGroup(device: String, group: String, by actor: AuditActor = .console) async throws {
        if !group.isEmpty { try RolloutPlan.checkGroup(group) }
        let before = try await store.groups()[device] ?? ""
        try await store.setGroup(
            device: device, group: group,
            audit: NewAuditEntry(
                action: .metadataEdit, actor: actor, device: device, alert: "",
                reason: "group \(SafeText.quoted(before)) → \(SafeText.quoted(group))", now: wallClock()))
    }

    /// The registered devices in `group`, by id.
    public func devices(inGroup group: String) async throws -> [String] {
        let registered = try await store.registry().byDevice
        return try await store.groups().filter { $0.value == group && registered[$0.key] != nil }.keys.sorted()
    }

    // MARK: Rollouts

    /// Starts a staged rollout of a configuration overlay to every device of `group` (docs/configuration.md →
    /// *Staged rollouts*): audited (`rollout-create`), and its first stage pushed at once.
    public func startConfigRollout(
        group: String, settings: String, stages: [Int], maxFailedPercent: Int, waitMs: Int64,
        lifetime: Duration = .seconds(7 * 24 * 3600), by actor: AuditActor, reason: String = ""
    ) async throws -> RolloutRow {
        guard signer != nil else { throw ControlRoomError.noSigningKey }
        guard !settings.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DeskError.badRequest("the configuration document has no settings")
        }
        return try await startRollout(
            kind: .config, group: group, payload: settings, what: "config", stages: stages,
            maxFailedPercent: maxFailedPercent, waitMs: waitMs, lifetime: lifetime, by: actor, reason: reason)
    }

    /// Starts a staged rollout of a signed software update (docs/updates.md → *Update rollouts*) to every device of
    /// `group`: each device's push is the signed update document `update push --device` queues (`signUpdate`, audited
    /// `update-push`); a device is healthy once its health record reports the package's version as its `software`.
    /// The package must already be stored (`UpdatePackages`) under its SHA-256.
    public func startUpdateRollout(
        group: String, artifact: UpdateArtifact, floor: String? = nil, stages: [Int], maxFailedPercent: Int,
        waitMs: Int64, lifetime: Duration = .seconds(7 * 24 * 3600), by actor: AuditActor, reason: String = ""
    ) async throws -> RolloutRow {
        guard signer != nil else { throw ControlRoomError.noSigningKey }
        try Self.checkFloor(floor, of: artifact)
        return try await startRollout(
            kind: .update, group: group, payload: try UpdateRolloutPayload(artifact, floor: floor).stored(),
            what: "update to \(artifact.version) (sha256 \(artifact.sha256), floor \(floor ?? "none"))",
            stages: stages, maxFailedPercent: maxFailedPercent, waitMs: waitMs, lifetime: lifetime, by: actor,
            reason: reason)
    }

    private func startRollout(
        kind: RolloutKind, group: String, payload: String, what: String, stages: [Int], maxFailedPercent: Int,
        waitMs: Int64, lifetime: Duration, by actor: AuditActor, reason: String
    ) async throws -> RolloutRow {
        try RolloutPlan.checkGroup(group)
        guard !stages.isEmpty, stages.last == 100 else {
            throw RolloutError.badStages(stages.map(String.init).joined(separator: ","))
        }
        guard (0...100).contains(maxFailedPercent) else { throw RolloutError.badMaxFailed("\(maxFailedPercent)%") }
        guard waitMs >= 1000 else { throw RolloutError.badWait("\(waitMs) ms") }
        let devices = try await devices(inGroup: group)
        guard !devices.isEmpty else { throw RolloutError.emptyGroup(group) }
        let now = wallClock()
        let rows = RolloutPlan.assign(devices: devices, stages: stages)
        let draft = RolloutRow(
            id: 0, kind: kind, group: group, payload: payload, stages: stages, maxFailedPercent: maxFailedPercent,
            waitMs: waitMs, lifetimeMs: lifetime.components.seconds * 1000, createdMs: now.epochMilliseconds,
            createdBy: actor.user)
        let stageCount = (rows.map(\.stage).max() ?? 0) + 1
        let rollout = try await store.createRollout(
            draft, devices: rows,
            audit: NewAuditEntry(
                action: .rolloutCreate, actor: actor, device: "", alert: "",
                reason:
                    "\(what) to group \(group): \(devices.count) device(s) in \(stageCount) stage(s) (\(draft.stagesText) %), "
                    + "pause above \(maxFailedPercent)% failed, wait \(waitMs / 1000) s"
                    + (reason.isEmpty ? "" : "; \(reason)"),
                now: now))
        logger.notice(
            "rollout created",
            metadata: [
                "rollout": "\(rollout.id)", "kind": "\(kind.rawValue)", "group": "\(group)",
                "devices": "\(devices.count)",
            ])
        changes.publish(ControlRoomChange([.rollouts, .audit]))
        try await advanceRollout(id: rollout.id)
        return try await rolloutRow(id: rollout.id)
    }

    /// Every rollout, newest first.
    public func rollouts() async throws -> [RolloutRow] { try await store.rollouts() }

    func rolloutRow(id: Int64) async throws -> RolloutRow {
        guard let row = try await store.rollouts().first(where: { $0.id == id }) else {
            throw RolloutError.unknownRollout(id)
        }
        return row
    }

    /// Takes every running rollout one step (`RolloutPlan.advance`): returns the earliest deadline (epoch ms) at
    /// which one must be looked at again without news from a device, and whether any step wrote something.
    @discardableResult
    public func advanceRollouts() async throws -> (nextDeadlineMs: Int64?, changed: Bool) {
        var next: Int64?
        var changed = false
        for rollout in try await store.rollouts() where rollout.state == .running {
            let step = try await advanceRollout(id: rollout.id)
            changed = changed || step.changed
            if let deadline = step.nextDeadlineMs { next = min(next ?? deadline, deadline) }
        }
        return (next, changed)
    }

    /// Takes one rollout a step: reads its rows and what each pushed device reported, lets `RolloutPlan` decide,
    /// has the store write it. A step another instance wrote first is computed again. Returns the next deadline
    /// and whether the step wrote something.
    @discardableResult
    public func advanceRollout(id: Int64) async throws -> (nextDeadlineMs: Int64?, changed: Bool) {
        for _ in 0..<3 {
            let rollout = try await rolloutRow(id: id)
            guard rollout.state == .running else { return (nil, false) }
            let devices = try await store.rolloutDevices(id: id)
            var facts: [String: RolloutFacts] = [:]
            for row in devices where row.state == .pending {
                facts[row.device] = try await rolloutFacts(rollout.kind, row)
            }
            let now = wallClock()
            let plan = RolloutPlan.advance(rollout, devices: devices, facts: facts, nowMs: now.epochMilliseconds)
            guard plan.changed else { return (plan.nextDeadlineMs, false) }
            do {
                try await store.applyRollout(
                    plan, issue: try rolloutIssuer(rollout, now: now), actor: Self.rolloutActor, now: now)
            } catch RolloutError.conflict { continue }
            applied(plan)
            return (plan.nextDeadlineMs, true)
        }
        throw RolloutError.conflict(id)
    }

    /// Resumes a paused rollout (its stage's failures so far accepted), audited, and takes it a step.
    public func resumeRollout(id: Int64, by actor: AuditActor) async throws {
        let rollout = try await rolloutRow(id: id)
        let plan = try RolloutPlan.resume(rollout, devices: try await store.rolloutDevices(id: id))
        let now = wallClock()
        try await store.applyRollout(plan, issue: try rolloutIssuer(rollout, now: now), actor: actor, now: now)
        applied(plan)
        try await advanceRollout(id: id)
    }

    /// Stops a rollout for good, audited.
    public func abortRollout(id: Int64, by actor: AuditActor, reason: String = "") async throws {
        let rollout = try await rolloutRow(id: id)
        let plan = try RolloutPlan.abort(rollout, devices: try await store.rolloutDevices(id: id), reason: reason)
        let now = wallClock()
        try await store.applyRollout(
            plan, issue: { _, _ in throw RolloutError.finished(id, .aborted) }, actor: actor, now: now)
        applied(plan)
    }

    /// A rollout with each device's row, acknowledgement and running version.
    public func rolloutStatus(id: Int64) async throws -> RolloutStatus {
        let rollout = try await rolloutRow(id: id)
        var devices: [RolloutDeviceStatus] = []
        for row in try await store.rolloutDevices(id: id) {
            let facts = try await rolloutFacts(rollout.kind, row)
            devices.append(
                RolloutDeviceStatus(row: row, acknowledged: facts.acked, running: facts.running.first.flatMap { $0 }))
        }
        return RolloutStatus(rollout: rollout, devices: devices)
    }

    /// Each registered device's configuration (of `group` only, when given), by id; with `page`, only that page of
    /// them (the desk's device table asks for the page it shows, never the whole fleet).
    public func configStatus(group: String? = nil, page: DevicePageRequest? = nil) async throws -> [DeviceConfigStatus]
    {
        let groups = try await store.groups()
        let registered = try await store.registry().byDevice.keys.sorted()
        var wanted = registered.filter { group == nil || groups[$0] == group }
        if let page { wanted = Array(wanted.filter { id in page.after.map { id > $0 } ?? true }.prefix(page.limit)) }
        // The newest rollout that has the device says where it stands in it.
        var inRollout: [String: (Int64, RolloutDeviceRow)] = [:]
        for rollout in try await store.rollouts() where rollout.kind == .config {
            for row in try await store.rolloutDevices(id: rollout.id) where inRollout[row.device] == nil {
                inRollout[row.device] = (rollout.id, row)
            }
        }
        var result: [DeviceConfigStatus] = []
        for device in wanted {
            let queued = try await store.lastQueued(device: device, action: ConfigQueue.action)
            let pushed = queued.flatMap { ConfigQueue.version(alert: $0.alert) }
            let health = try await lastRecord(device: device, kind: .health)
            var running: Int?
            if case .health(let report)? = health?.body { running = report.configVersion }
            var state = pushed == nil ? "-" : (running == pushed ? "healthy" : "pending")
            var reason = ""
            let rollout = inRollout[device]
            if let row = rollout?.1, row.version == nil || pushed.map(String.init) == row.version {
                state = row.state.rawValue
                reason = row.reason
            }
            result.append(
                DeviceConfigStatus(
                    device: device, group: groups[device] ?? "", pushed: pushed, acknowledged: queued?.acked ?? false,
                    running: running, state: state, rollout: rollout?.0, reason: reason))
        }
        return result
    }

    /// What is known of a pushed device: the acknowledgement of its document, the versions of its newest health
    /// records (newest first).
    func rolloutFacts(_ kind: RolloutKind, _ row: RolloutDeviceRow) async throws -> RolloutFacts {
        guard let alert = row.alert else { return RolloutFacts() }
        let commands = try await store.commands(device: row.device, alert: alert)
        let acked = commands.contains { $0.acked }
        let reports = try await store.latestEnvelopes(
            device: row.device, kind: .health, limit: Self.rolloutHealthDepth
        ).compactMap(Self.decode).compactMap { record -> HealthReport? in
            guard case .health(let report) = record.body else { return nil }
            return report
        }
        // The box's own report of refusing this very document (`box-refused`, by its nonce), since it was pushed.
        let nonces = Set(commands.map(\.nonce))
        let refused = try await store.audit(device: row.device, alert: alert).last {
            $0.action == .boxRefused && $0.timeMs >= (row.pushedMs ?? 0)
                && CommandReceipts.refusedNonce(in: $0.reason).map(nonces.contains) == true
        }
        return RolloutFacts(
            acked: acked, running: reports.map(kind.running),
            faulty: reports.first.map { !$0.inputFaults.isEmpty } ?? false,
            refused: refused?.reason)
    }

    /// Signs the rollout's document for one device at the version after the ones queued for it.
    func rolloutIssuer(_ rollout: RolloutRow, now: RecordTime) throws -> RolloutIssuer {
        guard let signer else { throw ControlRoomError.noSigningKey }
        switch rollout.kind {
        case .config:
            let expires = RecordTime(epochMilliseconds: now.epochMilliseconds + rollout.lifetimeMs)
            let settings = rollout.payload
            return { device, queued in
                let version = ConfigQueue.nextVersion(after: queued)
                let document = ConfigDocument(
                    version: version, device: device, nonce: ControlRoom.makeNonce(), issued: now, expires: expires,
                    settings: settings)
                return QueuedDocument(
                    version: String(version), alert: ConfigQueue.alert(version: version), nonce: document.nonce,
                    envelope: try signer.sign(document), expiresMs: expires.epochMilliseconds)
            }
        case .update:
            let (artifact, floor) = try UpdateRolloutPayload.read(stored: rollout.payload)
            let expires = RecordTime(epochMilliseconds: now.epochMilliseconds + rollout.lifetimeMs)
            return { [self] device, _ in
                let issued = try signUpdate(
                    device: device, artifact: artifact, floor: floor, now: now, expires: expires)
                return QueuedDocument(
                    version: artifact.version, alert: UpdateQueue.alert(version: artifact.version),
                    nonce: issued.document.nonce, envelope: issued.envelope, expiresMs: expires.epochMilliseconds)
            }
        }
    }

    /// A step of a rollout was written: it goes out on the change stream (the desk's device table shows it), and
    /// its audit lines to the log.
    private func applied(_ plan: RolloutPlan) {
        changes.publish(ControlRoomChange([.rollouts, .audit]))
        logRollout(plan)
    }

    private func logRollout(_ plan: RolloutPlan) {
        for audit in plan.audits {
            let level: Logger.Level =
                audit.action == .rolloutPause || audit.action == .rolloutDeviceFailed ? .warning : .notice
            logger.log(
                level: level, "\(audit.action.rawValue)",
                metadata: [
                    "rollout": "\(plan.rollout.id)", "device": "\(audit.device)", "reason": "\(audit.reason)",
                ])
        }
    }
}

extension ConfigQueue {
    /// The version of a `config-v<version>` alert value.
    public static func version(alert: String) -> Int? {
        alert.hasPrefix("config-v") ? Int(alert.dropFirst("config-v".count)) : nil
    }
}
