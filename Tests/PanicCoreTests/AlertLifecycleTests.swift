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

    @Test("the responder stages travel back: accept → dispatch → arrive → clear; a late accept changes nothing")
    func responderStages() {
        var lifecycle = AlertLifecycle()
        _ = lifecycle.stored(alert: "a", kind: .emergency)
        _ = lifecycle.delivered(alert: "a")
        #expect(lifecycle.commanded(.accept, alert: "a")?.to == .acknowledged)
        #expect(
            lifecycle.commanded(.dispatch, alert: "a")
                == AlertTransition(alert: "a", kind: .emergency, from: .acknowledged, to: .dispatched))
        #expect(lifecycle.commanded(.accept, alert: "a") == nil, "an accept after the dispatch moves nothing back")
        #expect(lifecycle.commanded(.arrive, alert: "a")?.to == .onScene)
        #expect(lifecycle.commanded(.dispatch, alert: "a") == nil)
        #expect(lifecycle.openAlerts == ["a"])
        #expect(lifecycle.commanded(.clear, alert: "a")?.to == .cleared)
        #expect(lifecycle.openAlerts.isEmpty)
        // A control room without dispatch: a dispatch straight after delivery (the accept was lost) still lands.
        _ = lifecycle.stored(alert: "b", kind: .help)
        _ = lifecycle.delivered(alert: "b")
        #expect(lifecycle.commanded(.dispatch, alert: "b")?.to == .dispatched)
        #expect(CommandAction.allCases.map(\.target) == [.acknowledged, .cleared, .dispatched, .onScene])
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
