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
    @Test("an LED that plays patterns itself is handed the armed heartbeat once, and nothing is scheduled")
    func heartbeatHandedOff() {
        var indicator = Indicator { role, _ in role == .statusLED }
        let armed = indicator.show(.armed, at: .zero)
        #expect(
            armed.handoffs == [
                IndicatorHandoff(.statusLED, pattern: IndicatorPatterns.entry(for: .armed).led, at: .zero)
            ])
        #expect(armed.changes.isEmpty)
        #expect(armed.nextDeadline == nil)
        // Stored: the buzzer's one-shot chirp is still timed here; the LED's fast blink is handed off too.
        let stored = indicator.show(.stored, at: ms(10_000))
        #expect(stored.handoffs.map(\.output) == [.statusLED])
        #expect(stored.changes == [IndicatorChange(.buzzer, on: true, at: ms(10_000))])
        #expect(stored.nextDeadline == ms(10_100))
        // Sent is steady: set, not handed off, and set even though the indicator never set it off itself.
        let sent = indicator.show(.sent, at: ms(11_000))
        #expect(sent.handoffs.isEmpty)
        #expect(sent.changes.first == IndicatorChange(.statusLED, on: true, at: ms(11_000)))
    }

    @Test("cleared is played step by step, then armed is handed off when it falls back")
    func clearedThenHandedOff() {
        var indicator = Indicator { role, _ in role == .statusLED }
        _ = indicator.show(.helpOnTheWay, at: .zero)
        var output = indicator.show(.cleared, at: ms(5_000))
        var ledChanges = output.changes.filter { $0.output == .statusLED }
        var handoffs: [IndicatorHandoff] = []
        while let next = output.nextDeadline {
            output = indicator.advance(to: next)
            ledChanges += output.changes.filter { $0.output == .statusLED }
            handoffs += output.handoffs
        }
        // The LED was handed help-on-the-way's blink, so cleared's first "on" is written: the level is not known.
        #expect(ledChanges.filter(\.on).map(\.at) == [ms(5_000), ms(5_200), ms(5_400)])
        #expect(
            handoffs == [IndicatorHandoff(.statusLED, pattern: IndicatorPatterns.entry(for: .armed).led, at: ms(8_000))]
        )
        #expect(indicator.state == .armed)
    }

    @Test("a pattern's level at any time follows its steps and repeats")
    func levelAtAnyTime() {
        let heartbeat = IndicatorPatterns.entry(for: .armed).led
        #expect(heartbeat.isPeriodic && heartbeat.period == .seconds(3))
        #expect(heartbeat.level(after: .zero) && heartbeat.level(after: .milliseconds(99)))
        #expect(!heartbeat.level(after: .milliseconds(100)) && !heartbeat.level(after: .milliseconds(2_999)))
        #expect(heartbeat.level(after: .milliseconds(6_050)))
        #expect(!IndicatorPatterns.entry(for: .sent).led.isPeriodic)
        #expect(IndicatorPatterns.entry(for: .sent).led.level(after: .seconds(100)))
        #expect(!IndicatorPatterns.entry(for: .cleared).led.isPeriodic)
        #expect(!IndicatorPatterns.entry(for: .cleared).led.level(after: .seconds(1)))
    }

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
