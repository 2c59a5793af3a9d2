import PanicCore
import Testing

/// A board's worth of lines as the sim board wires them.
enum Lines {
    static let driver = InputLineSpec(
        name: "driver-emergency", role: .emergency, chip: "sim", line: .name("BTN_DRIVER"), contact: .normallyClosed,
        closedLevel: .low, bias: .pullUp)
    static let seats = InputLineSpec(
        name: "seat-row-emergency", role: .emergency, chip: "sim", line: .name("BTN_SEATS"),
        contact: .normallyOpen, closedLevel: .low, bias: .pullUp)
    static let help = InputLineSpec(
        name: "help", role: .help, chip: "sim", line: .name("BTN_HELP"), contact: .normallyOpen, closedLevel: .low,
        bias: .pullUp)
    static let enclosure = InputLineSpec(
        name: "enclosure", role: .tamper, chip: "sim", line: .name("ENCLOSURE"), contact: .normallyClosed,
        closedLevel: .low, bias: .pullUp)
    static let power = InputLineSpec(
        name: "main-power", role: .power, chip: "sim", line: .name("POWER_SENSE"), contact: .normallyOpen,
        closedLevel: .high, bias: .pullDown)
    static let ignition = InputLineSpec(
        name: "ignition", role: .ignition, chip: "sim", line: .name("IGNITION"), contact: .normallyOpen,
        closedLevel: .high, bias: .pullDown)
}

func ms(_ value: Int) -> MonotonicInstant { .zero.advanced(by: .milliseconds(value)) }

/// Drives a classifier like the service does: edges, then deadlines in order up to `until`.
struct Harness {
    var classifier: InputClassifier
    var events: [InputEvent] = []

    init(_ specs: [InputLineSpec], closed: [Bool]) {
        classifier = InputClassifier(specs: specs, initiallyClosed: closed, now: .zero)
        events = classifier.initialEvents
    }

    mutating func edge(_ line: Int, closed: Bool, at: MonotonicInstant) {
        events += classifier.edge(line: line, closed: closed, at: at).events
    }

    /// Plays every deadline up to `until` one at a time, as a timer would.
    mutating func run(until: MonotonicInstant) {
        while let next = classifier.nextDeadline, next <= until {
            events += classifier.advance(to: next).events
        }
        events += classifier.advance(to: until).events
    }

    var kinds: [InputEventKind] { events.map(\.kind) }
}

@Suite("Input classification")
struct InputClassifierTests {
    @Test("a storm of 10,000 bounce edges within 50 ms gives exactly one press")
    func storm() {
        var harness = Harness([Lines.help], closed: [false])
        // 10,000 edges, alternating, in 50 ms: odd count so the contact ends closed (pressed).
        for edge in 0..<10_001 {
            harness.edge(0, closed: edge % 2 == 0, at: .zero.advanced(by: .microseconds(edge * 5)))
        }
        harness.run(until: ms(2_000))
        #expect(harness.kinds == [.help])
        // The press dates from the last bounce edge; it counts a debounce window plus the hold later.
        #expect(harness.events.first?.since == ms(50))
        #expect(harness.events.first?.at == ms(50 + 250))
    }

    @Test("a storm that ends released gives no press, whatever its length")
    func stormEndingOpen() {
        var harness = Harness([Lines.help], closed: [false])
        for edge in 0..<10_000 {
            harness.edge(0, closed: edge % 2 == 0, at: .zero.advanced(by: .microseconds(edge * 5)))
        }
        harness.run(until: ms(5_000))
        #expect(harness.events.isEmpty)
    }

    @Test("a press shorter than the hold time gives nothing")
    func shortPress() {
        var harness = Harness([Lines.help], closed: [false])
        harness.edge(0, closed: true, at: ms(100))
        harness.edge(0, closed: false, at: ms(100 + 200))
        harness.run(until: ms(5_000))
        #expect(harness.events.isEmpty)
    }

    @Test("a press held exactly past the hold counts once; its release is reported")
    func pressAndRelease() {
        var harness = Harness([Lines.help], closed: [false])
        harness.edge(0, closed: true, at: ms(100))
        harness.run(until: ms(1_000))
        harness.edge(0, closed: false, at: ms(1_000))
        harness.run(until: ms(3_000))
        #expect(harness.kinds == [.help, .helpReleased])
        #expect(harness.events.map(\.at) == [ms(350), ms(1_250)])
    }

    @Test("a normally-closed loop opened briefly is an emergency press, then a release")
    func ncPress() {
        var harness = Harness([Lines.driver], closed: [true])
        harness.edge(0, closed: false, at: ms(0))
        harness.run(until: ms(2_000))
        harness.edge(0, closed: true, at: ms(2_000))
        harness.run(until: ms(30_000))
        #expect(harness.kinds == [.emergency, .emergencyReleased])
    }

    @Test("a normally-closed loop left open raises the emergency at once, then a wire cut, then the restore")
    func ncCutAndRestore() {
        var harness = Harness([Lines.driver], closed: [true])
        harness.edge(0, closed: false, at: ms(0))
        harness.run(until: ms(9_000))
        #expect(harness.kinds == [.emergency])
        harness.run(until: ms(60_000))
        #expect(harness.kinds == [.emergency, .wireCut])
        #expect(harness.events.last?.at == ms(10_000))
        #expect(harness.events.last?.kind.isTamper == true)
        harness.edge(0, closed: true, at: ms(60_000))
        harness.run(until: ms(61_000))
        #expect(harness.kinds == [.emergency, .wireCut, .wireRestored])
    }

    @Test("a normally-open button held for minutes is one alert and one stuck fault, cleared on release")
    func stuckButton() {
        var harness = Harness([Lines.help], closed: [false])
        harness.edge(0, closed: true, at: ms(0))
        harness.run(until: ms(600_000))
        #expect(harness.kinds == [.help, .stuck])
        #expect(harness.events.last?.at == ms(120_000))
        harness.edge(0, closed: false, at: ms(600_000))
        harness.run(until: ms(601_000))
        #expect(harness.kinds == [.help, .stuck, .stuckCleared])
    }

    @Test("two buttons pressed together give two events, emergency and help kept apart")
    func twoButtons() {
        var harness = Harness([Lines.driver, Lines.help], closed: [true, false])
        harness.edge(0, closed: false, at: ms(10))
        harness.edge(1, closed: true, at: ms(10))
        harness.run(until: ms(1_000))
        #expect(harness.events.map(\.kind) == [.emergency, .help])
        #expect(harness.events.map(\.name) == ["driver-emergency", "help"])
        #expect(harness.events.map(\.kind.isAlert) == [true, true])
    }

    @Test("enclosure, power and ignition lines report tamper and sense changes after their hold")
    func senseLines() {
        var harness = Harness([Lines.enclosure, Lines.power, Lines.ignition], closed: [true, true, false])
        harness.edge(0, closed: false, at: ms(0))
        harness.edge(1, closed: false, at: ms(0))
        harness.edge(2, closed: true, at: ms(0))
        // A 500 ms power dip is a brown-out, not a loss.
        harness.edge(1, closed: true, at: ms(500))
        harness.run(until: ms(10_000))
        #expect(harness.kinds == [.enclosureOpened, .ignitionOn])
        harness.edge(1, closed: false, at: ms(10_000))
        harness.run(until: ms(20_000))
        harness.edge(1, closed: true, at: ms(20_000))
        harness.run(until: ms(30_000))
        #expect(harness.kinds == [.enclosureOpened, .ignitionOn, .powerLost, .powerRestored])
        #expect(harness.events[2].at == ms(12_000))
    }

    @Test("states found at start are reported as faults, not alerts")
    func initialState() {
        let harness = Harness(
            [Lines.driver, Lines.help, Lines.enclosure, Lines.power], closed: [false, true, false, false])
        #expect(harness.kinds == [.wireCut, .stuck, .enclosureOpened, .powerLost])
    }

    @Test("an edge read late is clamped, so events never go back in time")
    func lateEdge() {
        var harness = Harness([Lines.help], closed: [false])
        harness.run(until: ms(1_000))
        harness.edge(0, closed: true, at: ms(900))
        harness.run(until: ms(2_000))
        #expect(harness.events.map(\.since) == [ms(1_000)])
    }
}
