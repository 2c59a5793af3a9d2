import PanicSimulation
import Testing

@Suite("Chaos proxy's fault schedule")
struct ChaosScheduleTests {
    @Test("seeded: the same seed gives the same faults in the same order; another seed does not")
    func seeded() {
        var first = ChaosSchedule(faults: ChaosFault.allCases, rate: 0.5, seed: 7)
        var again = ChaosSchedule(faults: ChaosFault.allCases, rate: 0.5, seed: 7)
        var other = ChaosSchedule(faults: ChaosFault.allCases, rate: 0.5, seed: 8)
        let a = (0..<200).map { _ in first.next() }
        #expect(a == (0..<200).map { _ in again.next() })
        #expect(a != (0..<200).map { _ in other.next() })
    }

    @Test("the rate is the share of faulted requests, and every chosen fault occurs; pass is never a fault")
    func rateAndKinds() {
        var schedule = ChaosSchedule(faults: [.serverError, .drop, .pass], rate: 0.3, seed: 1)
        let drawn = (0..<10_000).map { _ in schedule.next() }
        let faulted = drawn.filter { $0 != .pass }
        #expect((2_700...3_300).contains(faulted.count), "\(faulted.count) of 10000 faulted at rate 0.3")
        #expect(Set(faulted) == [.serverError, .drop])
    }

    @Test("a budget faults that many requests, then everything passes; rate 0 never faults")
    func budget() {
        var schedule = ChaosSchedule(faults: [.reset], rate: 1, budget: 5, seed: 3)
        #expect(
            (0..<20).map { _ in schedule.next() } == Array(repeating: .reset, count: 5)
                + Array(repeating: .pass, count: 15))
        var calm = ChaosSchedule(faults: ChaosFault.allCases, rate: 0, seed: 3)
        #expect((0..<1000).allSatisfy { _ in calm.next() == .pass })
    }
}
