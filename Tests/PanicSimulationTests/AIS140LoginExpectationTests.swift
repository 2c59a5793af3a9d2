import PanicConfig
import PanicCore
import PanicSimulation
import Testing

@Suite("ais140_logins: per_session, graded without a run")
struct AIS140LoginExpectationTests {
    func grade(_ sessions: [(String, Int, Int)], breaks: Int) -> (text: String, held: Bool) {
        var seen = Expectations.Observed(
            milestones: [], indicator: .armed, lost: 0, duplicates: 0, deliveredByKind: [:])
        seen.ais140Sessions = sessions.map { (backend: $0.0, connections: $0.1, logins: $0.2) }
        seen.sessionBreaks = breaks
        return Expectations.grade([.ais140LoginsPerSession], seen)[0]
    }

    @Test("one login per connection and no more connections than 1 + outages and power cuts")
    func graded() {
        #expect(grade([("vlt", 1, 1)], breaks: 0).held)
        #expect(grade([("vlt", 3, 3), ("cdac", 2, 2)], breaks: 2).held)
        // A login per delivery: many connections for no outage.
        let perDelivery = grade([("vlt", 18, 18)], breaks: 0)
        #expect(!perDelivery.held)
        #expect(perDelivery.text.contains("vlt 18 connections, 18 logins"), "\(perDelivery.text)")
        // Two logins on one connection.
        #expect(!grade([("vlt", 1, 2)], breaks: 0).held)
        // No AIS-140 receiver: nothing was shown.
        #expect(!grade([], breaks: 0).held)
    }

    @Test("the scenario key reads; anything but per_session is named")
    func parsed() {
        let head = "name: x\nboard: b\nroute: r\nduration: 1m\nexpect:\n"
        let (scenario, problems) = Scenario.parse(head + "  - ais140_logins: per_session\n")
        #expect(problems.isEmpty, "\(problems)")
        #expect(scenario?.expectations == [.ais140LoginsPerSession], "\(problems)")
        let (_, refused) = Scenario.parse(head + "  - ais140_logins: 1\n")
        #expect(
            refused.contains { $0.key.hasSuffix("ais140_logins") && $0.message.contains("per_session") }, "\(refused)")
    }
}
