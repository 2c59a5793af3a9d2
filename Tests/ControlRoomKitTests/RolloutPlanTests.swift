import ControlRoomKit
import Foundation
import Testing

/// The staged-rollout rules, pure: rows in, decisions out (docs/configuration.md → *Staged rollouts*).
@Suite("RolloutPlan: stages, health, silence, the failure threshold, resume and abort")
struct RolloutPlanTests {
    static let wait: Int64 = 60_000

    static func rollout(maxFailed: Int = 10, state: RolloutState = .running, stage: Int = 0) -> RolloutRow {
        RolloutRow(
            id: 7, kind: .config, group: "buses", payload: "log_level: debug\n", stages: [10, 100],
            maxFailedPercent: maxFailed, waitMs: wait, lifetimeMs: 3_600_000, state: state, stage: stage,
            createdMs: 0, createdBy: "asha")
    }

    static func pending(
        _ device: String, stage: Int, version: String = "3", at pushed: Int64 = 1000
    )
        -> RolloutDeviceRow
    {
        RolloutDeviceRow(
            device: device, stage: stage, state: .pending, version: version, alert: "config-v\(version)",
            pushedMs: pushed)
    }

    @Test("devices go into stages by id, cumulative shares rounded up, empty stages left out")
    func assign() {
        let twenty = (0..<20).map { "bus-\(String(format: "%02d", $0))" }
        let rows = RolloutPlan.assign(devices: twenty.reversed(), stages: [1, 10, 100])
        #expect(rows.map(\.device) == twenty)
        #expect(rows.filter { $0.stage == 0 }.map(\.device) == ["bus-00"])
        #expect(rows.filter { $0.stage == 1 }.map(\.device) == ["bus-01"])
        #expect(rows.filter { $0.stage == 2 }.count == 18)
        // 1 % and 10 % of five are both one device: the 10 % stage would be empty and is left out.
        let five = RolloutPlan.assign(devices: ["e", "d", "c", "b", "a"], stages: [1, 10, 100])
        #expect(five.map(\.stage) == [0, 1, 1, 1, 1])
        #expect(rows.allSatisfy { $0.state == .waiting })
    }

    @Test("bad parameters are refused with the problem named")
    func parameters() throws {
        #expect(try RolloutPlan.stages("1,10,100") == [1, 10, 100])
        #expect(try RolloutPlan.stages("5%, 100%") == [5, 100])
        for bad in ["10,1,100", "1,50", "0,100", "abc", "", "1,,100", "50,150"] {
            #expect(throws: RolloutError.badStages(bad)) { try RolloutPlan.stages(bad) }
        }
        #expect(try RolloutPlan.maxFailed("10%") == 10)
        #expect(try RolloutPlan.maxFailed("0") == 0)
        #expect(throws: RolloutError.badMaxFailed("150%")) { try RolloutPlan.maxFailed("150%") }
        #expect(try RolloutPlan.wait("30m") == 1_800_000)
        #expect(try RolloutPlan.wait("90s") == 90_000)
        #expect(throws: RolloutError.badWait("10x")) { try RolloutPlan.wait("10x") }
        #expect(throws: RolloutError.badWait("0s")) { try RolloutPlan.wait("0s") }
        #expect(throws: RolloutError.badGroup("a b")) { try RolloutPlan.checkGroup("a b") }
        #expect(RolloutError.badStages("1,50").description.contains("ending at 100"))
    }

    @Test("a new rollout pushes its first stage only, audited as the stage's start")
    func firstStage() {
        let rows = RolloutPlan.assign(devices: (0..<10).map { "bus-\($0)" }, stages: [10, 100])
        let plan = RolloutPlan.advance(Self.rollout(), devices: rows, facts: [:], nowMs: 5000)
        #expect(plan.push == ["bus-0"])
        #expect(plan.rollout.stage == 0 && plan.rollout.state == .running)
        #expect(plan.audits.map(\.action) == [.rolloutStage])
        #expect(plan.nextDeadlineMs == 5000 + Self.wait)
        #expect(plan.changed)
    }

    @Test("a stage is complete when every device in it is healthy on the new version; then the next starts")
    func stageCompletes() {
        let waiting = (1..<10).map { RolloutDeviceRow(device: "bus-\($0)", stage: 1) }
        let devices = [Self.pending("bus-0", stage: 0)] + waiting
        // Not yet: its newest health still shows the old version.
        let early = RolloutPlan.advance(
            Self.rollout(), devices: devices, facts: ["bus-0": RolloutFacts(acked: true, running: ["2", "2"])],
            nowMs: 2000)
        #expect(!early.changed && early.push.isEmpty && early.nextDeadlineMs == 1000 + Self.wait)
        let plan = RolloutPlan.advance(
            Self.rollout(), devices: devices, facts: ["bus-0": RolloutFacts(acked: true, running: ["3", "2"])],
            nowMs: 3000)
        #expect(plan.settled.map(\.state) == [.healthy])
        #expect(plan.rollout.stage == 1)
        #expect(plan.push == waiting.map(\.device))
        #expect(plan.audits.map(\.action) == [.rolloutStage])
        // The last stage settled: done.
        let last = (0..<10).map { Self.pending("bus-\($0)", stage: 1) }
        let facts = Dictionary(
            uniqueKeysWithValues: last.map { ($0.device, RolloutFacts(acked: true, running: ["3"])) })
        let done = RolloutPlan.advance(Self.rollout(stage: 1), devices: last, facts: facts, nowMs: 4000)
        #expect(done.rollout.state == .done && done.push.isEmpty)
        #expect(done.audits.last?.action == .rolloutDone)
        #expect(done.nextDeadlineMs == nil)
    }

    @Test("a device that reverted fails at once; a silent one fails after the wait, not before")
    func revertedAndSilent() {
        let devices = (0..<10).map { Self.pending("bus-\($0)", stage: 1) }
        var facts = Dictionary(
            uniqueKeysWithValues: devices.map { ($0.device, RolloutFacts(acked: true, running: ["3"])) })
        facts["bus-4"] = RolloutFacts(acked: true, running: [nil, "3", "3"])  // back on the local file
        facts["bus-5"] = RolloutFacts(acked: false, running: ["2"])  // silent since the push
        let before = RolloutPlan.advance(
            Self.rollout(stage: 1), devices: devices, facts: facts, nowMs: 1000 + Self.wait - 1)
        #expect(before.settled.filter { $0.state == .failed }.map(\.device) == ["bus-4"])
        #expect(before.settled.first { $0.device == "bus-4" }?.reason.hasPrefix("reverted") == true)
        #expect(before.rollout.state == .running, "1 of 10 failed is not more than 10 %")
        #expect(before.nextDeadlineMs == 1000 + Self.wait)
        let after = RolloutPlan.advance(Self.rollout(stage: 1), devices: devices, facts: facts, nowMs: 1000 + Self.wait)
        let failed = after.settled.filter { $0.state == .failed }
        #expect(failed.map(\.device) == ["bus-4", "bus-5"])
        #expect(failed.last?.reason.contains("within 60 s") == true)
        #expect(after.audits.filter { $0.action == .rolloutDeviceFailed }.map(\.device) == ["bus-4", "bus-5"])
    }

    @Test("the rollout pauses when the failed share passes the threshold, and never starts the next stage then")
    func pauses() {
        let stage0 = (0..<4).map { Self.pending("bus-\($0)", stage: 0) }
        let stage1 = (4..<8).map { RolloutDeviceRow(device: "bus-\($0)", stage: 1) }
        var facts = Dictionary(
            uniqueKeysWithValues: stage0.map { ($0.device, RolloutFacts(acked: true, running: ["3"])) })
        facts["bus-1"] = RolloutFacts(acked: true, running: ["2", "3"])
        // 1 of 4 is 25 %: over 10 %, paused even though every device of the stage is settled.
        let plan = RolloutPlan.advance(Self.rollout(), devices: stage0 + stage1, facts: facts, nowMs: 2000)
        #expect(plan.rollout.state == .paused)
        #expect(plan.push.isEmpty)
        #expect(plan.audits.map(\.action) == [.rolloutDeviceFailed, .rolloutPause])
        #expect(plan.audits.last?.reason.contains("1 of 4") == true)
        // Paused rows stay paused whatever arrives.
        var paused = Self.rollout(state: .paused)
        paused.revision = 3
        let settled = stage0.map { row -> RolloutDeviceRow in
            var row = row
            row.state = row.device == "bus-1" ? .failed : .healthy
            return row
        }
        let still = RolloutPlan.advance(paused, devices: settled + stage1, facts: [:], nowMs: 999_999)
        #expect(!still.changed && still.push.isEmpty)
        // At 25 % allowed it goes on.
        let tolerant = RolloutPlan.advance(
            Self.rollout(maxFailed: 25), devices: stage0 + stage1, facts: facts, nowMs: 2000)
        #expect(tolerant.rollout.state == .running && tolerant.push == stage1.map(\.device))
    }

    @Test("resume accepts the stage's failures so far (one more pauses again); abort stops for good")
    func resumeAndAbort() throws {
        var paused = Self.rollout(state: .paused)
        paused.revision = 4
        var devices =
            (0..<4).map { Self.pending("bus-\($0)", stage: 0) } + [RolloutDeviceRow(device: "bus-9", stage: 1)]
        devices[1].state = .failed
        let resumed = try RolloutPlan.resume(paused, devices: devices)
        #expect(resumed.rollout.state == .running && resumed.rollout.acceptedFailures == 1)
        #expect(resumed.readRevision == 4)
        #expect(resumed.audits.map(\.action) == [.rolloutResume])
        // Running again: the others healthy, the stage settles and the next starts.
        var facts = Dictionary(
            uniqueKeysWithValues: devices.map { ($0.device, RolloutFacts(acked: true, running: ["3"])) })
        let next = RolloutPlan.advance(resumed.rollout, devices: devices, facts: facts, nowMs: 2000)
        #expect(next.rollout.state == .running && next.push == ["bus-9"])
        // ...but one more failure in the stage pauses it again.
        facts["bus-2"] = RolloutFacts(acked: true, running: ["2", "3"])
        let again = RolloutPlan.advance(resumed.rollout, devices: devices, facts: facts, nowMs: 2000)
        #expect(again.rollout.state == .paused && again.push.isEmpty)
        #expect(throws: RolloutError.notPaused(7, .running)) {
            try RolloutPlan.resume(Self.rollout(), devices: devices)
        }

        let aborted = try RolloutPlan.abort(paused, devices: devices, reason: "wrong APN")
        #expect(aborted.rollout.state == .aborted)
        #expect(aborted.audits.map(\.action) == [.rolloutAbort])
        #expect(aborted.audits.first?.reason == "wrong APN; 1 device(s) never pushed")
        let after = RolloutPlan.advance(aborted.rollout, devices: devices, facts: facts, nowMs: 9_999_999)
        #expect(!after.changed)
        #expect(throws: RolloutError.finished(7, .aborted)) {
            try RolloutPlan.abort(aborted.rollout, devices: devices, reason: "")
        }
    }
}
