import PanicCore
import Testing

@Suite("The LED never says more than is true: authority acknowledgements, held alerts")
struct AuthorityIndicatorTests {
    typealias Situation = IndicatorPolicy.Situation

    /// The LED after the lifecycle's transitions so far.
    func shown(_ transitions: [AlertTransition?]) -> IndicatorState {
        var situation = Situation()
        for transition in transitions.compactMap({ $0 }) { situation.apply(transition) }
        return IndicatorPolicy.show(situation)
    }

    @Test("a tracking server's acknowledgement leaves the emergency STORED; the control room's makes it SENT")
    func onlyAuthorityAcknowledgementsCount() {
        #expect(IndicatorPolicy.acknowledgementCounts(from: .authority))
        #expect(!IndicatorPolicy.acknowledgementCounts(from: .tracking))
        var lifecycle = AlertLifecycle()
        let stored = lifecycle.stored(alert: "e1", kind: .emergency)
        let tracked = lifecycle.delivered(alert: "e1", by: .tracking)
        #expect(tracked == nil, "an OsmAnd 200 or an AIS-140 answer moves nothing")
        #expect(lifecycle.state(of: "e1") == .stored)
        #expect(shown([stored, tracked]) == .stored)
        let sent = lifecycle.delivered(alert: "e1", by: .authority)
        #expect(sent == AlertTransition(alert: "e1", kind: .emergency, from: .stored, to: .sent))
        #expect(shown([stored, tracked, sent]) == .sent)
    }

    @Test("an alert held in memory on a full card shows NOT STORED, above any other alert's progress, until committed")
    func heldAlertShowsFull() {
        var situation = Situation(held: ["e1": .emergency])
        #expect(IndicatorPolicy.show(situation) == .notStoredFull)
        situation.apply(AlertTransition(alert: "h1", kind: .help, from: nil, to: .sent))
        #expect(IndicatorPolicy.show(situation) == .notStoredFull, "a help request SENT does not hide the held press")
        situation.apply(AlertTransition(alert: "e1", kind: .emergency, from: nil, to: .stored))
        #expect(situation.held.isEmpty)
        #expect(IndicatorPolicy.show(situation) == .stored)
        // A held tamper or position does not light the LED.
        #expect(IndicatorPolicy.show(Situation(held: ["t1": .tamper])) == .armed)
    }

    @Test("the full pattern is distinct from every other state's")
    func fullPatternIsDistinct() {
        let full = IndicatorPatterns.entry(for: .notStoredFull)
        for state in IndicatorState.allCases where state != .notStoredFull {
            #expect(IndicatorPatterns.entry(for: state).led != full.led, "\(state) looks like not-stored-full")
        }
        #expect(full.led.isPeriodic)
    }
}
