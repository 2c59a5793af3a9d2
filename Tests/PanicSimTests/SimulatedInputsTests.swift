import PanicCore
import PanicHardware
import PanicSim
import Testing

/// The sim board's wiring, as boards/sim.yaml has it.
let simInputs: [InputLineSpec] = [
    InputLineSpec(
        name: "driver-emergency", role: .emergency, chip: "sim-gpio", line: .name("BTN_DRIVER"),
        contact: .normallyClosed, closedLevel: .low, bias: .pullUp),
    InputLineSpec(
        name: "seat-row-emergency", role: .emergency, chip: "sim-gpio", line: .name("BTN_SEATS"),
        contact: .normallyClosed, closedLevel: .low, bias: .pullUp),
    InputLineSpec(
        name: "help", role: .help, chip: "sim-gpio", line: .name("BTN_HELP"), contact: .normallyOpen,
        closedLevel: .low, bias: .pullUp),
    InputLineSpec(
        name: "enclosure", role: .tamper, chip: "sim-gpio", line: .name("ENCLOSURE"), contact: .normallyClosed,
        closedLevel: .low, bias: .pullUp),
    InputLineSpec(
        name: "main-power", role: .power, chip: "sim-gpio", line: .name("POWER_SENSE"), contact: .normallyOpen,
        closedLevel: .high, bias: .pullDown),
    InputLineSpec(
        name: "ignition", role: .ignition, chip: "sim-gpio", line: .name("IGNITION"), contact: .normallyOpen,
        closedLevel: .high, bias: .pullDown),
]

let simOutputs: [OutputLineSpec] = [
    OutputLineSpec(
        name: "status-led", role: .statusLED, chip: "sim-gpio", line: .name("LED_STATUS"), activeLevel: .high),
    OutputLineSpec(name: "buzzer", role: .buzzer, chip: "sim-gpio", line: .name("BUZZER"), activeLevel: .high),
]

extension InputService {
    /// Waits until every edge the script has made so far is classified, so moving the clock cannot overtake one.
    func caughtUp(with lines: SimulatedInputLines) async { await caughtUp(to: lines.edgeCount) }
}

func ms(_ value: Int) -> MonotonicInstant { .zero.advanced(by: .milliseconds(value)) }

@Suite("Simulated inputs through the input service", .timeLimit(.minutes(2)))
struct SimulatedInputsTests {
    @Test("scripted presses, bounce, a cut wire, the enclosure and power come out classified, in virtual time")
    func endToEnd() async throws {
        let clock = ManualClock()
        let lines = SimulatedInputLines(specs: simInputs, clock: clock)
        let service = InputService(lines: lines, clock: clock)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            await service.watching()
            var events = service.events.makeAsyncIterator()

            // A bouncy help press: 1 000 edges in 50 ms, ending pressed.
            try lines.bounce("help", edges: 1_001, over: .milliseconds(50))
            await service.caughtUp(with: lines)
            clock.advance(to: ms(1_000))
            let help = await events.next()
            #expect(help?.kind == .help)
            #expect(help?.at == ms(50 + 250))

            // Both emergency loops open at once: the driver's is cut for good, the seats' is a press.
            try lines.press("driver-emergency")
            try lines.press("seat-row-emergency")
            await service.caughtUp(with: lines)
            clock.advance(to: ms(2_000))
            #expect(await events.next()?.name == "driver-emergency")
            #expect(await events.next()?.name == "seat-row-emergency")
            try lines.release("seat-row-emergency")
            await service.caughtUp(with: lines)
            clock.advance(to: ms(12_000))
            let released = await events.next()
            #expect(released?.kind == .emergencyReleased)
            let cut = await events.next()
            #expect(cut?.kind == .wireCut)
            #expect(cut?.at == ms(11_000))

            try lines.openEnclosure()
            try lines.losePower()
            await service.caughtUp(with: lines)
            clock.advance(to: ms(20_000))
            #expect(await events.next()?.kind == .enclosureOpened)
            #expect(await events.next()?.kind == .powerLost)

            try lines.restore("driver-emergency")
            await service.caughtUp(with: lines)
            clock.advance(to: ms(21_000))
            lines.close()
            #expect(await events.next()?.kind == .wireRestored)
            #expect(await events.next() == nil)
            try await group.waitForAll()
        }
        #expect(lines.edgeCount == 1_001 + 5 + 1)
    }

    @Test("a held button is one alert and a stuck fault, driven by the service's timers alone")
    func stuck() async throws {
        let clock = ManualClock()
        let lines = SimulatedInputLines(specs: simInputs, clock: clock)
        let service = InputService(lines: lines, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            await service.watching()
            var events = service.events.makeAsyncIterator()
            try lines.press("help")
            await service.caughtUp(with: lines)
            clock.advance(by: .seconds(1))
            #expect(await events.next()?.kind == .help)
            // Only the service's own timer can produce the stuck fault: no edge arrives to trigger it. Wait for
            // the service to be asleep on the clock before moving time.
            while clock.sleeperCount == 0 { await Task.yield() }
            await service.caughtUp(with: lines)
            clock.advance(by: .seconds(600))
            let stuck = await events.next()
            #expect(stuck?.kind == .stuck)
            #expect(stuck?.at == ms(120_000))
            group.cancelAll()
        }
    }

    @Test("a backend failure ends the service with that error")
    func failure() async throws {
        let clock = ManualClock()
        let lines = SimulatedInputLines(specs: simInputs, clock: clock)
        let service = InputService(lines: lines, clock: clock)
        lines.fail(SimulatedLineError("line BTN_HELP vanished"))
        await #expect(throws: SimulatedLineError("line BTN_HELP vanished")) { try await service.run() }
    }

    @Test("the indicator driver plays patterns onto the simulated outputs in virtual time")
    func indicatorOnOutputs() async throws {
        let clock = ManualClock()
        let outputs = SimulatedOutputLines(specs: simOutputs, clock: clock)
        let driver = IndicatorDriver(outputs: outputs, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            driver.show(.stored)
            while outputs.changes.count < 2 { await Task.yield() }
            for _ in 0..<4 {
                while clock.sleeperCount == 0 { await Task.yield() }
                clock.advance(to: clock.nextDeadline ?? clock.now)
            }
            driver.finish()
            try await group.waitForAll()
        }
        let described = outputs.changes.map(\.description)
        #expect(
            described.prefix(5) == [
                "t+0.000s status-led on", "t+0.000s buzzer on", "t+0.100s buzzer off", "t+0.200s status-led off",
                "t+0.400s status-led on",
            ])
        #expect(!outputs.isOn(0) && !outputs.isOn(1))
    }
}
