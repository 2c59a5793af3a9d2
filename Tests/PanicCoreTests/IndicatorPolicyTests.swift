import PanicCore
import Testing

@Suite("What the box shows: the indicator policy")
struct IndicatorPolicyTests {
    func event(_ kind: InputEventKind) -> InputEvent {
        InputEvent(
            line: 0, name: "driver-emergency", role: .emergency, kind: kind,
            since: MonotonicInstant(sinceOrigin: .zero), at: MonotonicInstant(sinceOrigin: .seconds(1)))
    }

    @Test("at start: an open emergency shows stored, an input fault shows fault, else armed")
    func atStart() {
        var state = AlertEngine.PersistentState()
        #expect(IndicatorPolicy.atStart(state) == .armed)
        state.inputFaults = ["driver-emergency"]
        #expect(IndicatorPolicy.atStart(state) == .fault)
        state.openEmergency = "a1"
        #expect(IndicatorPolicy.atStart(state) == .stored)
    }

    @Test("an input fault shows fault unless an emergency is open; mending the last fault shows armed")
    func faults() {
        var state = AlertEngine.PersistentState()
        state.inputFaults = ["driver-emergency"]
        #expect(IndicatorPolicy.after(event(.wireCut), state: state) == .fault)
        state.inputFaults = []
        #expect(IndicatorPolicy.after(event(.wireRestored), state: state) == .armed)
        state.openEmergency = "a1"
        #expect(IndicatorPolicy.after(event(.wireCut), state: state) == nil)
        #expect(IndicatorPolicy.after(event(.wireRestored), state: state) == nil)
    }

    @Test("an alert's progress shows stored, sent, help on the way, cleared; tamper does not light the LED")
    func progress() {
        let states: [(AlertState, IndicatorState)] = [
            (.stored, .stored), (.sent, .sent), (.acknowledged, .helpOnTheWay), (.cleared, .cleared),
        ]
        for (to, shown) in states {
            #expect(IndicatorPolicy.after(AlertTransition(alert: "a1", kind: .emergency, from: nil, to: to)) == shown)
            #expect(IndicatorPolicy.after(AlertTransition(alert: "a1", kind: .tamper, from: nil, to: to)) == nil)
        }
    }
}
