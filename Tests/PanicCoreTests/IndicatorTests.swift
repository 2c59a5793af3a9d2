import PanicCore
import Testing

/// Plays an indicator on a test timeline and records what the outputs do.
struct IndicatorHarness {
    var indicator = Indicator()
    var changes: [IndicatorChange] = []

    mutating func show(_ state: IndicatorState, at: MonotonicInstant) {
        changes += indicator.show(state, at: at).changes
    }

    mutating func run(until: MonotonicInstant) {
        while let next = indicator.nextDeadline, next <= until {
            changes += indicator.advance(to: next).changes
        }
    }

    func times(_ output: OutputRole, on: Bool) -> [MonotonicInstant] {
        changes.filter { $0.output == output && $0.on == on }.map(\.at)
    }
}

@Suite("Indicator patterns")
struct IndicatorTests {
    @Test("armed is a 100 ms heartbeat every 3 s with the buzzer silent")
    func heartbeat() {
        var harness = IndicatorHarness()
        harness.show(.armed, at: .zero)
        harness.run(until: ms(9_999))
        #expect(harness.times(.statusLED, on: true) == [ms(0), ms(3_000), ms(6_000), ms(9_000)])
        #expect(harness.times(.statusLED, on: false) == [ms(100), ms(3_100), ms(6_100), ms(9_100)])
        #expect(harness.times(.buzzer, on: true).isEmpty)
    }

    @Test("stored blinks fast and chirps once; sent is steady with two chirps and then nothing to wake for")
    func storedThenSent() {
        var harness = IndicatorHarness()
        harness.show(.stored, at: .zero)
        harness.run(until: ms(1_000))
        #expect(harness.times(.statusLED, on: true) == [ms(0), ms(400), ms(800)])
        #expect(harness.times(.buzzer, on: true) == [ms(0)])
        #expect(harness.times(.buzzer, on: false) == [ms(100)])
        harness.changes = []
        harness.show(.sent, at: ms(1_000))
        harness.run(until: ms(60_000))
        // The LED went off at 1 000 ms (its off half), so sent turns it on once, for good.
        #expect(harness.times(.statusLED, on: true) == [ms(1_000)])
        #expect(harness.times(.statusLED, on: false).isEmpty)
        #expect(harness.times(.buzzer, on: true) == [ms(1_000), ms(1_200)])
        #expect(harness.indicator.nextDeadline == nil)
    }

    @Test("cleared blinks three times, then falls back to the armed heartbeat")
    func clearedReturnsToArmed() {
        var harness = IndicatorHarness()
        harness.show(.helpOnTheWay, at: .zero)
        harness.run(until: ms(4_999))
        #expect(harness.times(.statusLED, on: true) == [ms(0), ms(2_000), ms(4_000)])
        #expect(harness.times(.buzzer, on: false) == [ms(600)])
        harness.changes = []
        harness.show(.cleared, at: ms(5_000))
        harness.run(until: ms(8_500))
        // The LED was on at 5 000 ms (help on the way), so cleared's first "on" is no change.
        #expect(harness.times(.statusLED, on: true) == [ms(5_200), ms(5_400), ms(8_000)])
        #expect(harness.indicator.state == .armed)
    }

    @Test("fault flashes three times per cycle and beeps three times once")
    func fault() {
        var harness = IndicatorHarness()
        harness.show(.fault, at: .zero)
        harness.run(until: ms(4_000))
        #expect(harness.times(.statusLED, on: true) == [0, 200, 400, 2_100, 2_300, 2_500].map(ms))
        #expect(harness.times(.buzzer, on: true) == [ms(0), ms(200), ms(400)])
        #expect(harness.times(.buzzer, on: false).last == ms(480))
    }

    @Test("every state has a pattern, and armed is the only one with nothing to say on the buzzer")
    func table() {
        for state in IndicatorState.allCases {
            let entry = IndicatorPatterns.entry(for: state)
            #expect(!entry.led.steps.isEmpty || state == .armed)
            #expect(entry.buzzer.steps.isEmpty == (state == .armed), "\(state)")
        }
    }
}
