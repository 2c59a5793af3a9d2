import PanicCore
import Testing

@Suite("What the box shows: the indicator policy")
struct IndicatorPolicyTests {
    typealias Situation = IndicatorPolicy.Situation

    func transition(_ alert: String, _ kind: RecordKind, to state: AlertState) -> AlertTransition {
        AlertTransition(alert: alert, kind: kind, from: nil, to: state)
    }

    @Test("nothing open: armed, or fault while an input is faulty")
    func idle() {
        #expect(IndicatorPolicy.show(Situation()) == .armed)
        #expect(IndicatorPolicy.show(Situation(inputFault: true)) == .fault)
    }

    @Test("an alert's progress shows stored, sent, help on the way; an input fault does not hide it")
    func progress() {
        var situation = Situation(inputFault: true)
        let shown: [(AlertState, IndicatorState)] = [
            (.stored, .stored), (.sent, .sent), (.acknowledged, .helpOnTheWay), (.dispatched, .helpDispatched),
            (.onScene, .helpOnScene),
        ]
        for (state, led) in shown {
            situation.apply(transition("e1", .emergency, to: state))
            #expect(IndicatorPolicy.show(situation) == led)
        }
    }

    @Test("a help request cleared while an emergency is open and not yet accepted: the LED stays on the emergency")
    func helpClearedDuringEmergency() {
        var situation = Situation()
        situation.apply(transition("e1", .emergency, to: .stored))
        situation.apply(transition("h1", .help, to: .stored))
        situation.apply(transition("h1", .help, to: .sent))
        situation.apply(transition("h1", .help, to: .acknowledged))
        // The help request is further along than the emergency: the emergency leads.
        #expect(IndicatorPolicy.show(situation) == .stored)
        situation.apply(transition("h1", .help, to: .cleared))
        #expect(IndicatorPolicy.show(situation, justCleared: true) == .stored)
        situation.apply(transition("e1", .emergency, to: .sent))
        #expect(IndicatorPolicy.show(situation) == .sent)
        situation.apply(transition("e1", .emergency, to: .cleared))
        #expect(IndicatorPolicy.show(situation, justCleared: true) == .cleared)
    }

    @Test("of several open help requests, the least far along is shown")
    func leastAlong() {
        var situation = Situation()
        situation.apply(transition("h1", .help, to: .acknowledged))
        situation.apply(transition("h2", .help, to: .stored))
        #expect(IndicatorPolicy.show(situation) == .stored)
    }

    @Test("an alert a backend refused for good shows fault, above its progress")
    func undeliverable() {
        var situation = Situation()
        situation.apply(transition("e1", .emergency, to: .stored))
        situation.undeliverable = ["e1"]
        #expect(IndicatorPolicy.show(situation) == .fault)
        situation.apply(transition("e1", .emergency, to: .cleared))
        #expect(situation.undeliverable.isEmpty)
        #expect(IndicatorPolicy.show(situation, justCleared: true) == .cleared)
    }

    @Test("tamper alerts do not light the LED")
    func tamper() {
        var situation = Situation()
        situation.apply(transition("t1", .tamper, to: .stored))
        #expect(situation.alerts.isEmpty)
        #expect(IndicatorPolicy.show(situation) == .armed)
    }
}
