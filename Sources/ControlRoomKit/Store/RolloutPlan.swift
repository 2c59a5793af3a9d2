import Foundation
import PanicCore

/// What a rollout sends: a configuration document (issue 26 item 3) or a software update (item 4, queued by its
/// own step once it lands).
public enum RolloutKind: String, Sendable, Hashable, Codable, CaseIterable {
    case config
    case update

    /// The `commands.action` of the documents this kind queues (their versions count per device and action).
    public var queueAction: String {
        switch self {
        case .config: ConfigQueue.action
        case .update: "update"
        }
    }

    /// The version a health report says the box runs, in the form a rollout pushes it (`configVersion` for a
    /// configuration, `software` for an update); nil when the report says none.
    public func running(_ report: HealthReport) -> String? {
        switch self {
        case .config: report.configVersion.map(String.init)
        case .update: report.software
        }
    }
}

/// Where a rollout stands.
public enum RolloutState: String, Sendable, Hashable, Codable {
    /// Stages are being pushed and watched.
    case running
    /// Stopped by itself: the failed share of a stage passed `--max-failed` (`controlroom rollout resume` goes on).
    case paused
    /// Stopped for good by an operator; devices not pushed yet are never pushed.
    case aborted
    /// Every stage is settled.
    case done
}

/// Where one device of a rollout stands.
public enum RolloutDeviceState: String, Sendable, Hashable, Codable {
    /// Its stage has not started.
    case waiting
    /// Pushed; not yet healthy on the new version.
    case pending
    /// Its health record shows the pushed version.
    case healthy
    /// It went back to another version after showing the pushed one, or stayed silent past the wait.
    case failed
}

/// A rollout as stored.
public struct RolloutRow: Sendable, Hashable, Codable {
    public var id: Int64
    public var kind: RolloutKind
    /// The group it goes to (the control room's own assignment, `controlroom devices edit --group`).
    public var group: String
    /// What is pushed: the configuration overlay's YAML text (or, for an update, its reference).
    public var payload: String
    /// The stages as asked for: cumulative shares of the group in percent, the last 100.
    public var stages: [Int]
    /// A stage pauses the rollout when more than this share of its devices failed (percent).
    public var maxFailedPercent: Int
    /// How long a pushed device has to report healthy on the new version.
    public var waitMs: Int64
    /// How long each pushed document stays valid.
    public var lifetimeMs: Int64
    public var state: RolloutState
    /// The stage being pushed or watched (0-based).
    public var stage: Int
    /// Failures in the current stage an operator accepted by resuming: one more pauses it again.
    public var acceptedFailures: Int
    /// Bumped by every change: a change computed from an older revision is not written (another instance won).
    public var revision: Int64
    public var createdMs: Int64
    public var createdBy: String

    public init(
        id: Int64, kind: RolloutKind, group: String, payload: String, stages: [Int], maxFailedPercent: Int,
        waitMs: Int64, lifetimeMs: Int64, state: RolloutState = .running, stage: Int = 0, acceptedFailures: Int = 0,
        revision: Int64 = 0, createdMs: Int64, createdBy: String
    ) {
        self.id = id
        self.kind = kind
        self.group = group
        self.payload = payload
        self.stages = stages
        self.maxFailedPercent = maxFailedPercent
        self.waitMs = waitMs
        self.lifetimeMs = lifetimeMs
        self.state = state
        self.stage = stage
        self.acceptedFailures = acceptedFailures
        self.revision = revision
        self.createdMs = createdMs
        self.createdBy = createdBy
    }

    /// The audit log's `alert` column for this rollout's lines.
    public var auditName: String { "rollout-\(id)" }
}

/// One device of a rollout, as stored.
public struct RolloutDeviceRow: Sendable, Hashable, Codable {
    public var device: String
    public var stage: Int
    public var state: RolloutDeviceState
    /// The version pushed to it (a configuration's per-device version number, as text), once pushed.
    public var version: String?
    /// The `commands.alert` of the queued document (what its acknowledgement is found by).
    public var alert: String?
    public var pushedMs: Int64?
    /// Why it failed.
    public var reason: String

    public init(
        device: String, stage: Int, state: RolloutDeviceState = .waiting, version: String? = nil,
        alert: String? = nil, pushedMs: Int64? = nil, reason: String = ""
    ) {
        self.device = device
        self.stage = stage
        self.state = state
        self.version = version
        self.alert = alert
        self.pushedMs = pushedMs
        self.reason = reason
    }
}

/// What the control room knows of a pushed device beyond the rollout's rows: whether the box acknowledged the
/// document, the versions its newest health records report, newest first (nil: a report naming none), whether the
/// newest of them names faulty inputs (a box that is not armed), and the reason the box gave when it reported
/// refusing the document (its `box-refused` line), if it did.
public struct RolloutFacts: Sendable, Hashable {
    public var acked: Bool
    public var running: [String?]
    public var faulty: Bool
    public var refused: String?

    public init(acked: Bool = false, running: [String?] = [], faulty: Bool = false, refused: String? = nil) {
        self.acked = acked
        self.running = running
        self.faulty = faulty
        self.refused = refused
    }
}

/// A document queued for one device of a rollout: the `commands` row a store inserts.
public struct QueuedDocument: Sendable, Hashable {
    public var version: String
    public var alert: String
    public var nonce: String
    public var envelope: String
    public var expiresMs: Int64

    public init(version: String, alert: String, nonce: String, envelope: String, expiresMs: Int64) {
        self.version = version
        self.alert = alert
        self.nonce = nonce
        self.envelope = envelope
        self.expiresMs = expiresMs
    }
}

/// Signs the rollout's document for a device, given the `commands.alert` values already queued for it under the
/// kind's action (so it can number the version).
public typealias RolloutIssuer = @Sendable (_ device: String, _ queued: [String]) throws -> QueuedDocument

/// A rollout's bad parameters, each naming the problem.
public enum RolloutError: Error, Equatable, CustomStringConvertible {
    case badStages(String)
    case badMaxFailed(String)
    case badWait(String)
    case emptyGroup(String)
    case badGroup(String)
    case unknownRollout(Int64)
    case notPaused(Int64, RolloutState)
    case finished(Int64, RolloutState)
    /// Another instance changed the rollout first; the step is computed again.
    case conflict(Int64)

    public var description: String {
        switch self {
        case .badStages(let text):
            "--stages '\(text)': give increasing percentages between 1 and 100 ending at 100, e.g. 1,10,100"
        case .badMaxFailed(let text): "--max-failed '\(text)': give a share from 0% to 100%, e.g. 10%"
        case .badWait(let text): "--wait '\(text)': give a duration such as 30m, 2h or 90s (at least 1s)"
        case .emptyGroup(let group):
            "no device is in group '\(group)' (assign one with `controlroom devices edit --id ID --group \(group)`)"
        case .badGroup(let group):
            "group '\(group.prefix(40))': use 1 to 64 letters, digits and - _ ."
        case .unknownRollout(let id): "no rollout \(id)"
        case .notPaused(let id, let state): "rollout \(id) is \(state.rawValue), not paused"
        case .finished(let id, let state): "rollout \(id) is already \(state.rawValue)"
        case .conflict(let id): "rollout \(id) was changed by another control room instance meanwhile"
        }
    }
}

/// One audit line a rollout step writes (the store adds the rollout's name, the actor and the time).
public struct RolloutAudit: Sendable, Hashable {
    public var action: AuditAction
    public var device: String
    public var reason: String
}

/// What to do next with a rollout, decided from its rows alone (the store reads them, this decides, the store
/// writes: the rule is written once for SQLite and PostgreSQL, as `IntakePlan` is for records).
///
/// The rules (docs/configuration.md → *Staged rollouts*, docs/updates.md → *Update rollouts*): a pending device is
/// **healthy** when its newest health record shows the pushed version (`configVersion` for a configuration,
/// `software` for an update) and names no faulty input (the box is armed), **failed** when the box reported refusing
/// the document, when an older record showed the version and the newest shows another (it reverted, or its update
/// agent rolled it back), or when it was pushed `wait` ago and is not healthy (silent, or a package that never arms). A stage is
/// settled when none of its devices is pending. The rollout **pauses** as soon as more than `maxFailedPercent` of
/// the stage's devices failed (beyond the failures an operator accepted by resuming), and never starts the next
/// stage while paused; a settled stage under the threshold starts the next, and the last one ends it (`done`).
public struct RolloutPlan: Sendable {
    /// The rollout after this step (its revision still the one read: the store bumps it when it writes).
    public private(set) var rollout: RolloutRow
    /// The revision the step was computed from.
    public let readRevision: Int64
    /// Device rows whose state changed (healthy or failed, with the reason).
    public private(set) var settled: [RolloutDeviceRow] = []
    /// Devices whose stage starts now: the store queues the document for each.
    public private(set) var push: [String] = []
    public private(set) var audits: [RolloutAudit] = []
    /// When the next device of the current stage runs out of `wait` (epoch ms), if one is pending.
    public private(set) var nextDeadlineMs: Int64?

    /// Whether the store has anything to write.
    public var changed: Bool { rollout != original || !settled.isEmpty || !push.isEmpty || !audits.isEmpty }
    private let original: RolloutRow

    private init(_ rollout: RolloutRow) {
        self.rollout = rollout
        original = rollout
        readRevision = rollout.revision
    }

    // MARK: Parameters

    /// `--stages 1,10,100`: increasing cumulative percentages, 1 to 100, the last 100.
    public static func stages(_ text: String) throws(RolloutError) -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "%", with: ""))
        }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw .badStages(text) }
        let values = parts.compactMap { $0 }
        guard values.last == 100, values.allSatisfy({ (1...100).contains($0) }),
            zip(values, values.dropFirst()).allSatisfy({ $0 < $1 })
        else { throw .badStages(text) }
        return values
    }

    /// `--max-failed 10%` (the `%` may be left out): 0 to 100.
    public static func maxFailed(_ text: String) throws(RolloutError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Int(trimmed.hasSuffix("%") ? String(trimmed.dropLast()) : trimmed), (0...100).contains(value)
        else { throw .badMaxFailed(text) }
        return value
    }

    /// `--wait 30m`: a number with `s`, `m` or `h`, at least one second; in milliseconds.
    public static func wait(_ text: String) throws(RolloutError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let factors: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000]
        guard let unit = trimmed.last, let factor = factors[unit],
            let value = Int64(trimmed.dropLast()), value > 0, value < 1_000_000
        else { throw .badWait(text) }
        return value * factor
    }

    /// A group name: 1 to 64 letters, digits and `- _ .`.
    public static func checkGroup(_ group: String) throws(RolloutError) {
        guard (1...64).contains(group.count),
            group.unicodeScalars.allSatisfy({
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0))
            })
        else { throw .badGroup(group) }
    }

    /// Which stage each device is in: devices in id order, stage `i` up to `ceil(stages[i]% × count)` of them;
    /// a stage that would be empty (1 % of 20 devices after 1 % of them) is left out, so every stage has a device.
    public static func assign(devices: [String], stages: [Int]) -> [RolloutDeviceRow] {
        let sorted = Array(Set(devices)).sorted()
        var rows: [RolloutDeviceRow] = []
        var stage = 0
        for percent in stages {
            let end = min(sorted.count, (sorted.count * percent + 99) / 100)
            guard end > rows.count else { continue }
            for device in sorted[rows.count..<end] { rows.append(RolloutDeviceRow(device: device, stage: stage)) }
            stage += 1
        }
        return rows
    }

    // MARK: Steps

    /// The next step of a running rollout at `nowMs`, from its device rows and what is known of each pushed device.
    public static func advance(
        _ rollout: RolloutRow, devices: [RolloutDeviceRow], facts: [String: RolloutFacts], nowMs: Int64
    ) -> RolloutPlan {
        var plan = RolloutPlan(rollout)
        guard rollout.state == .running else { return plan }
        var rows = devices
        for index in rows.indices where rows[index].state == .pending {
            let row = rows[index]
            let known = facts[row.device] ?? RolloutFacts()
            let running = known.running
            let shown = running.first.flatMap { $0 } ?? "none"
            if let version = row.version, running.first == version, !known.faulty {
                rows[index].state = .healthy
            } else if let refusal = known.refused {
                rows[index].state = .failed
                rows[index].reason = "refused by the box: \(refusal)"
            } else if let version = row.version, running.dropFirst().contains(version), running.first != version {
                rows[index].state = .failed
                rows[index].reason = "\(rollout.kind.wentBack): health shows \(shown) after \(version)"
            } else if let pushed = row.pushedMs, nowMs >= pushed + rollout.waitMs {
                rows[index].state = .failed
                rows[index].reason =
                    "not healthy on version \(row.version ?? "?") within \(rollout.waitMs / 1000) s ("
                    + (known.acked ? "acknowledged, " : "not acknowledged, ")
                    + "health shows \(shown)" + (known.faulty ? " with faulty inputs" : "") + ")"
            }
            if rows[index].state != .pending {
                plan.settled.append(rows[index])
                if rows[index].state == .failed {
                    plan.audits.append(
                        RolloutAudit(action: .rolloutDeviceFailed, device: row.device, reason: rows[index].reason))
                }
            }
        }
        let lastStage = rows.map(\.stage).max() ?? 0
        while plan.rollout.state == .running {
            let stage = plan.rollout.stage
            let members = rows.filter { $0.stage == stage }
            let waiting = members.filter { $0.state == .waiting }.map(\.device)
            if !waiting.isEmpty {
                plan.push += waiting
                plan.audits.append(
                    RolloutAudit(
                        action: .rolloutStage, device: "",
                        reason: "stage \(stage + 1) of \(lastStage + 1) started: \(waiting.count) device(s)"))
                for index in rows.indices where rows[index].stage == stage && rows[index].state == .waiting {
                    rows[index].state = .pending
                    rows[index].pushedMs = nowMs
                }
                continue
            }
            let failed = members.count { $0.state == .failed }
            if failed > plan.rollout.acceptedFailures && failed * 100 > plan.rollout.maxFailedPercent * members.count {
                plan.rollout.state = .paused
                plan.audits.append(
                    RolloutAudit(
                        action: .rolloutPause, device: "",
                        reason:
                            "stage \(stage + 1): \(failed) of \(members.count) device(s) failed, more than "
                            + "\(plan.rollout.maxFailedPercent)%"))
                break
            }
            guard !members.contains(where: { $0.state == .pending }) else { break }
            if stage >= lastStage {
                plan.rollout.state = .done
                let healthy = rows.count { $0.state == .healthy }
                plan.audits.append(
                    RolloutAudit(
                        action: .rolloutDone, device: "",
                        reason: "\(healthy) of \(rows.count) device(s) healthy, \(rows.count - healthy) failed"))
                break
            }
            plan.rollout.stage += 1
            plan.rollout.acceptedFailures = 0
        }
        if plan.rollout.state == .running {
            plan.nextDeadlineMs =
                rows.filter { $0.stage == plan.rollout.stage && $0.state == .pending }
                .compactMap { $0.pushedMs.map { $0 + rollout.waitMs } }.min()
        }
        return plan
    }

    /// Resumes a paused rollout: the current stage's failures so far are accepted (one more pauses it again).
    public static func resume(_ rollout: RolloutRow, devices: [RolloutDeviceRow]) throws(RolloutError) -> RolloutPlan {
        guard rollout.state == .paused else { throw .notPaused(rollout.id, rollout.state) }
        var plan = RolloutPlan(rollout)
        plan.rollout.state = .running
        plan.rollout.acceptedFailures = devices.count { $0.stage == rollout.stage && $0.state == .failed }
        plan.audits.append(
            RolloutAudit(
                action: .rolloutResume, device: "",
                reason: "stage \(rollout.stage + 1): \(plan.rollout.acceptedFailures) failure(s) accepted"))
        return plan
    }

    /// Stops a running or paused rollout for good: devices not pushed yet never are (documents already queued stay
    /// with their boxes, which apply or refuse them as any other).
    public static func abort(
        _ rollout: RolloutRow, devices: [RolloutDeviceRow], reason: String
    ) throws(RolloutError)
        -> RolloutPlan
    {
        guard rollout.state == .running || rollout.state == .paused else {
            throw .finished(rollout.id, rollout.state)
        }
        var plan = RolloutPlan(rollout)
        plan.rollout.state = .aborted
        let waiting = devices.count { $0.state == .waiting }
        plan.audits.append(
            RolloutAudit(
                action: .rolloutAbort, device: "",
                reason: (reason.isEmpty ? "" : reason + "; ") + "\(waiting) device(s) never pushed"))
        return plan
    }
}

extension RolloutKind {
    /// The audit action of one device's push: the one `controlroom config push` or `update push` writes.
    public var pushAction: AuditAction {
        switch self {
        case .config: .configPush
        case .update: .updatePush
        }
    }

    /// What a box that showed the pushed version and then another did: a configuration reverts by itself, an update
    /// is rolled back by the box's update agent.
    public var wentBack: String {
        switch self {
        case .config: "reverted"
        case .update: "rolled back"
        }
    }
}

extension RolloutPlan {
    /// The plan's audit lines as stored: under the rollout's name, by `actor` at `now`.
    public func auditEntries(actor: AuditActor, now: RecordTime) -> [NewAuditEntry] {
        audits.map {
            NewAuditEntry(
                action: $0.action, actor: actor, device: $0.device, alert: rollout.auditName, reason: $0.reason,
                now: now)
        }
    }

    /// The audit line of one device's push (its alert is the document's, as `controlroom config push` writes it).
    public func pushAudit(
        device: String, document: QueuedDocument, actor: AuditActor, now: RecordTime
    )
        -> NewAuditEntry
    {
        NewAuditEntry(
            action: rollout.kind.pushAction, actor: actor, device: device, alert: document.alert,
            reason: "\(rollout.auditName) stage \(rollout.stage + 1)", now: now)
    }
}

extension RolloutRow {
    /// The stages as stored (`1,10,100`).
    public var stagesText: String { stages.map(String.init).joined(separator: ",") }

    /// The stages from their stored text.
    public static func stages(stored text: String) -> [Int] { (try? RolloutPlan.stages(text)) ?? [100] }
}
