import ControlRoomKit
import Foundation
import Testing

/// The update kind of the staged-rollout rules, pure (docs/updates.md → *Update rollouts*).
@Suite("RolloutPlan for updates: healthy on the software version and armed, rolled back, refused, never armed")
struct UpdateRolloutPlanTests {
    static let wait: Int64 = 60_000

    static func rollout(maxFailed: Int = 30) -> RolloutRow {
        RolloutRow(
            id: 9, kind: .update, group: "buses", payload: "{}", stages: [50, 100], maxFailedPercent: maxFailed,
            waitMs: wait, lifetimeMs: 3_600_000, stage: 1, createdMs: 0, createdBy: "asha")
    }

    static func pending(_ device: String) -> RolloutDeviceRow {
        RolloutDeviceRow(
            device: device, stage: 1, state: .pending, version: "0.9.1", alert: "update-0.9.1", pushedMs: 1000)
    }

    @Test("faulty inputs on the new version keep a box pending; a rollback, a refusal and a box never armed fail it")
    func rules() {
        let devices = ["bus-0", "bus-1", "bus-2", "bus-3", "bus-4"].map(Self.pending)
        let facts: [String: RolloutFacts] = [
            "bus-0": RolloutFacts(acked: true, running: ["0.9.1", "0.9.0"]),
            "bus-1": RolloutFacts(acked: true, running: ["0.9.1"], faulty: true),
            "bus-2": RolloutFacts(acked: true, running: ["0.9.0", "0.9.1", "0.9.0"]),
            "bus-3": RolloutFacts(acked: false, running: ["0.9.0"], refused: "update refused: forged (nonce n)"),
            "bus-4": RolloutFacts(acked: true, running: ["0.9.0", "0.9.0"]),
        ]
        let early = RolloutPlan.advance(Self.rollout(), devices: devices, facts: facts, nowMs: 2000)
        #expect(early.settled.map(\.device) == ["bus-0", "bus-2", "bus-3"])
        #expect(early.settled.map(\.state) == [.healthy, .failed, .failed])
        #expect(early.settled[1].reason == "rolled back: health shows 0.9.0 after 0.9.1")
        #expect(early.settled[2].reason == "refused by the box: update refused: forged (nonce n)")
        #expect(early.rollout.state == .paused, "2 of 5 failed is more than 30 %")
        #expect(early.audits.map(\.action) == [.rolloutDeviceFailed, .rolloutDeviceFailed, .rolloutPause])
        #expect(RolloutKind.update.pushAction == .updatePush && RolloutKind.config.pushAction == .configPush)

        // With a higher threshold, the deadline fails the box that never came back on 0.9.1 and the faulty one.
        let late = RolloutPlan.advance(
            Self.rollout(maxFailed: 100), devices: devices, facts: facts, nowMs: 1000 + Self.wait)
        let reasons = Dictionary(uniqueKeysWithValues: late.settled.map { ($0.device, $0.reason) })
        #expect(reasons["bus-4"] == "not healthy on version 0.9.1 within 60 s (acknowledged, health shows 0.9.0)")
        #expect(
            reasons["bus-1"]
                == "not healthy on version 0.9.1 within 60 s (acknowledged, health shows 0.9.1 with faulty inputs)")
        #expect(late.rollout.state == .done)
    }
}
