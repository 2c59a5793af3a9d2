import PanicConfig
import PanicCore
import PanicSimulation
import Testing

@Suite("Scenario expectations, graded without a run")
struct ExpectationsTests {
    func observed(
        _ milestones: [(Scenario.Milestone, Int)], indicator: IndicatorState? = .armed, lost: Int = 0,
        duplicates: Int = 0, byKind: [RecordKind: Int] = [:]
    ) -> Expectations.Observed {
        .init(
            milestones: milestones.map { ($0.0, .seconds($0.1)) }, indicator: indicator, lost: lost,
            duplicates: duplicates, deliveredByKind: byKind)
    }

    @Test("'within' holds only when every reference is followed by the milestone in time")
    func within() {
        let rule = Scenario.Expectation.within(milestone: .delivered, within: .seconds(5), after: .networkUp)
        let inTime = Expectations.grade([rule], observed([(.networkUp, 10), (.delivered, 13)]))
        #expect(inTime.map(\.held) == [true])
        #expect(inTime[0].text == "delivered within 5 s of every network-up: took 3 s")
        let late = Expectations.grade([rule], observed([(.networkUp, 10), (.delivered, 16)]))
        #expect(late.map(\.held) == [false])
        // The second outage's return is never followed by a delivery.
        let second = Expectations.grade(
            [rule], observed([(.networkUp, 10), (.delivered, 12), (.networkUp, 40)]))
        #expect(second.map(\.held) == [false])
        #expect(second[0].text.hasSuffix("took 2 s, never happened"))
    }

    @Test("'within' with no reference at all does not hold (a scenario that never pressed proves nothing)")
    func noReference() {
        let rule = Scenario.Expectation.within(milestone: .stored, within: .seconds(1), after: .press)
        let result = Expectations.grade([rule], observed([(.stored, 3)]))
        #expect(result.map(\.held) == [false])
        #expect(result[0].text.hasSuffix("no press"))
    }

    @Test("the final LED, counts and per-kind deliveries are compared exactly")
    func countsAndIndicator() {
        let seen = observed([], indicator: .helpOnTheWay, lost: 1, duplicates: 0, byKind: [.emergency: 2])
        let results = Expectations.grade(
            [
                .finalIndicator("help-on-the-way"), .finalIndicator("armed"), .lost(0), .duplicates(0),
                .delivered(kind: .emergency, atLeast: 2), .delivered(kind: .help, atLeast: 1),
            ], seen)
        #expect(results.map(\.held) == [true, false, false, true, true, false])
        #expect(results[2].text == "lost = 0: 1")
    }
}
