import PanicCore
import PanicHardware
import PanicSim
import Testing

/// The sim board's outputs as boards/sim.yaml has them: the status LED a kernel LED-class LED, the buzzer a line.
private let ledClassOutputs: [OutputLineSpec] = [
    OutputLineSpec(name: "status-led", role: .statusLED, led: "sim-status"),
    OutputLineSpec(name: "buzzer", role: .buzzer, chip: "sim-gpio", line: .name("BUZZER"), activeLevel: .high),
]

@Suite("Simulated outputs that play patterns themselves", .timeLimit(.minutes(1)))
struct SimulatedOutputsTests {
    @Test("only an LED-class output plays patterns, and only periodic ones")
    func capability() {
        let outputs = SimulatedOutputLines(specs: ledClassOutputs, clock: ManualClock())
        #expect(outputs.canPlay(IndicatorPatterns.entry(for: .armed).led, on: 0))
        #expect(!outputs.canPlay(IndicatorPatterns.entry(for: .armed).led, on: 1))
        #expect(!outputs.canPlay(IndicatorPatterns.entry(for: .sent).led, on: 0))
        #expect(!outputs.canPlay(IndicatorPatterns.entry(for: .cleared).led, on: 0))
    }

    @Test("the armed heartbeat is handed over once and its level is answered at any time, with no timer armed")
    func heartbeat() async throws {
        let clock = ManualClock()
        let outputs = SimulatedOutputLines(specs: ledClassOutputs, clock: clock)
        let driver = IndicatorDriver(outputs: outputs, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            driver.show(.armed)
            while outputs.plays.isEmpty { await Task.yield() }
            // Nothing to wake for: the LED blinks by itself, the buzzer is silent.
            #expect(clock.sleeperCount == 0)
            #expect(outputs.isOn(0))
            clock.advance(by: .milliseconds(150))
            #expect(!outputs.isOn(0))
            clock.advance(by: .milliseconds(2_900))
            #expect(outputs.isOn(0), "on again in the next cycle (3.05 s)")
            clock.advance(by: .milliseconds(60_100))
            #expect(!outputs.isOn(0), "off at 63.15 s")
            #expect(clock.sleeperCount == 0)
            driver.finish()
            try await group.waitForAll()
        }
        #expect(outputs.plays.map(\.pattern) == [IndicatorPatterns.entry(for: .armed).led])
        #expect(outputs.plays.first?.since == .zero)
        // The heartbeat was off at 63.15 s, so the final "off" is no change; nothing was ever set step by step.
        #expect(outputs.changes.isEmpty)
        #expect(!outputs.isOn(0))
    }

    @Test("a level set ends the pattern; a change is recorded against the level the pattern showed")
    func setEndsPattern() throws {
        let clock = ManualClock()
        let outputs = SimulatedOutputLines(specs: ledClassOutputs, clock: clock)
        try outputs.play(IndicatorPatterns.entry(for: .armed).led, on: 0)
        clock.advance(by: .milliseconds(50))
        try outputs.set(0, on: true)  // it showed on: no change
        clock.advance(by: .milliseconds(100))
        #expect(outputs.isOn(0), "steady now, not the heartbeat's off half")
        try outputs.set(0, on: false)
        #expect(outputs.changes.map(\.description) == ["t+0.150s status-led off"])
    }
}
