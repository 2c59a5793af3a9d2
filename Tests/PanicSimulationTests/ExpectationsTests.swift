import ControlRoomKit
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

@Suite("Delivery audit by identity")
struct DeliveryAuditTests {
    func ids(_ pairs: [(Int64, String)]) -> [RecordIdentity] {
        pairs.map { RecordIdentity(sequence: $0.0, hash: $0.1) }
    }

    @Test("a record counts as delivered only when the control room holds the same envelope")
    func sameEnvelope() {
        let audit = DeliveryAudit.compare(
            committed: ids([(1, "a"), (2, "b"), (3, "c"), (4, "d")]),
            // 2 is held under another envelope (a fork): the box's record 2 is not there.
            stored: ids([(1, "a"), (2, "x"), (3, "c")]), confirmed: [1, 2, 3])
        #expect(audit.delivered == 2)
        #expect(audit.lost == 1 && audit.lostSequences == [2])
        #expect(audit.undelivered == 1)
        #expect(audit.foreign == 1)
    }

    @Test("a refused record the box counts delivered is lost even when the totals add up")
    func countsCanLie() {
        // The control room stored as many records as the box committed, but not the same ones.
        let audit = DeliveryAudit.compare(
            committed: ids([(1, "n1"), (2, "n2")]), stored: ids([(1, "o1"), (2, "o2")]), confirmed: [1, 2])
        #expect(audit.delivered == 0)
        #expect(audit.lost == 2)
        #expect(audit.foreign == 2)
    }

    @Test("alerts reach the operator only when every stored alert arrived, and there was a press")
    func alertsReachOperator() {
        let rule: [Scenario.Expectation] = [.alertsReachOperator]
        let pressed: [(Scenario.Milestone, Duration)] = [(.press, .seconds(1))]
        let held = Expectations.grade(
            rule,
            .init(
                milestones: pressed, indicator: nil, lost: 0, duplicates: 0, deliveredByKind: [:],
                alertsStored: ["e1"], alertsArrived: ["e1"]))
        #expect(held.map(\.held) == [true])
        let missing = Expectations.grade(
            rule,
            .init(
                milestones: pressed, indicator: nil, lost: 0, duplicates: 0, deliveredByKind: [:],
                alertsStored: ["e1", "h1"], alertsArrived: ["e1"]))
        #expect(missing.map(\.held) == [false])
        #expect(missing[0].text.hasSuffix("missing h1"))
        let noPress = Expectations.grade(
            rule, .init(milestones: [], indicator: nil, lost: 0, duplicates: 0, deliveredByKind: [:]))
        #expect(noPress.map(\.held) == [false])
    }
}
