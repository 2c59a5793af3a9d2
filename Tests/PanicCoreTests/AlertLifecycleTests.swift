import PanicCore
import Testing

@Suite("Alert lifecycle")
struct AlertLifecycleTests {
    @Test("an alert moves stored → sent → acknowledged → cleared, and every step is reported once")
    func forward() {
        var lifecycle = AlertLifecycle()
        #expect(lifecycle.stored(alert: "a", kind: .emergency)?.to == .stored)
        #expect(
            lifecycle.delivered(alert: "a") == AlertTransition(alert: "a", kind: .emergency, from: .stored, to: .sent))
        #expect(lifecycle.delivered(alert: "a") == nil)
        #expect(lifecycle.acknowledged(alert: "a")?.to == .acknowledged)
        #expect(lifecycle.openAlerts == ["a"])
        #expect(lifecycle.cleared(alert: "a")?.to == .cleared)
        #expect(lifecycle.openAlerts.isEmpty)
    }

    @Test("states never move backward: a late delivery after an acknowledgement changes nothing")
    func neverBackward() {
        var lifecycle = AlertLifecycle()
        _ = lifecycle.stored(alert: "a", kind: .help)
        _ = lifecycle.acknowledged(alert: "a")
        #expect(lifecycle.delivered(alert: "a") == nil)
        #expect(lifecycle.state(of: "a") == .acknowledged)
        _ = lifecycle.cleared(alert: "a")
        #expect(lifecycle.acknowledged(alert: "a") == nil)
    }

    @Test("positions and unknown alerts are not tracked")
    func untracked() {
        var lifecycle = AlertLifecycle()
        #expect(lifecycle.stored(alert: "p", kind: .position) == nil)
        #expect(lifecycle.delivered(alert: "x") == nil)
        #expect(lifecycle.state(of: "p") == nil)
    }

    @Test("only the most recent cleared alerts are remembered")
    func boundedMemory() {
        var lifecycle = AlertLifecycle(clearedMemory: 2)
        for name in ["a", "b", "c"] {
            _ = lifecycle.stored(alert: name, kind: .emergency)
            _ = lifecycle.cleared(alert: name)
        }
        #expect(lifecycle.state(of: "a") == nil)
        #expect(lifecycle.state(of: "c") == .cleared)
    }
}
