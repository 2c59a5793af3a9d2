import Foundation
import PanicCore
import Testing

/// The pure rules of a box's start: the boot reason, the downtime, and which faults found at start are new.
@Suite("Boot rules")
struct BootRulesTests {
    let base = AlertEngineTests()
    static let specs = [Lines.driver, Lines.seats, Lines.help, Lines.enclosure, Lines.power, Lines.ignition]

    /// The classifier's starting state for contacts `closed` (board order as `specs`).
    func starting(_ closed: [Bool]) -> [InputEvent] {
        InputClassifier(specs: Self.specs, initiallyClosed: closed, now: .zero).startingState
    }

    /// At rest: NC loops and the enclosure closed, NO buttons open, power present, ignition off.
    static let rest = [true, false, false, true, true, false]
    /// Driver loop cut, enclosure open, power absent, ignition on.
    static let faulty = [false, false, false, false, false, true]

    @Test("reason: no mark is first-start on a new outbox, unknown on an old one; running is power-cut or watchdog")
    func reasons() {
        #expect(BootRules.reason(mark: nil, outboxNew: true, watchdogReset: false) == .firstStart)
        #expect(BootRules.reason(mark: nil, outboxNew: false, watchdogReset: true) == .unknown)
        let running = RunMark(state: .running, timeMilliseconds: 5)
        let stopped = RunMark(state: .stopped, timeMilliseconds: 5)
        #expect(BootRules.reason(mark: running, outboxNew: false, watchdogReset: false) == .powerCut)
        #expect(BootRules.reason(mark: running, outboxNew: false, watchdogReset: true) == .watchdog)
        #expect(BootRules.reason(mark: stopped, outboxNew: false, watchdogReset: true) == .cleanRestart)
        #expect(RunMark(text: running.text) == running)
        #expect(RunMark(text: "running") == nil)
        #expect(RunMark(text: "asleep:5") == nil)
    }

    @Test("downtime: from the latest known moment alive; unknown when nothing is known or the clock is behind")
    func downtime() {
        #expect(BootRules.downtime(lastAlive: [1_000, nil, 4_000], now: 10_000) == 6_000)
        #expect(BootRules.downtime(lastAlive: [nil, nil], now: 10_000) == nil)
        #expect(BootRules.downtime(lastAlive: [20_000], now: 10_000) == nil)
    }

    @Test("the starting state lists wire cut, enclosure open, power absent and ignition on, in board order")
    func startingState() {
        let found = BootRules.start(starting: starting(Self.faulty), known: .init(), specs: Self.specs, at: .zero)
        #expect(
            found.found == [
                FoundInput(input: "driver-emergency", state: .wireCut),
                FoundInput(input: "enclosure", state: .enclosureOpen),
                FoundInput(input: "main-power", state: .powerLost),
                FoundInput(input: "ignition", state: .ignitionOn),
            ])
        #expect(starting(Self.rest).isEmpty)
    }

    @Test("faults the previous run knew are carried; faults new since then are new; known faults now gone ended")
    func split() {
        let known = AlertEngine.PersistentState(
            inputFaults: ["driver-emergency"], openEnclosures: ["enclosure"], powerLost: [])
        let start = BootRules.start(starting: starting(Self.faulty), known: known, specs: Self.specs, at: .zero)
        #expect(start.carried.map(\.kind) == [.wireCut, .enclosureOpened])
        #expect(start.new.map(\.kind) == [.powerLost])
        #expect(start.ended.isEmpty)

        let stale = AlertEngine.PersistentState(
            inputFaults: ["driver-emergency"], openEnclosures: ["enclosure"], powerLost: ["main-power"])
        let fine = BootRules.start(starting: starting(Self.rest), known: stale, specs: Self.specs, at: .zero)
        #expect(fine.found.isEmpty && fine.new.isEmpty && fine.carried.isEmpty)
        #expect(fine.ended.map(\.kind) == [.wireRestored, .enclosureClosed, .powerRestored])
        #expect(fine.ended.map(\.name) == ["driver-emergency", "enclosure", "main-power"])
    }

    @Test("engine at boot: a boot record; an enclosure open across the restart raises no second tamper")
    func engineBootCarriesFaults() {
        var engine = base.engine(restoring: .init(openEnclosures: ["enclosure"]))
        let drafts = engine.boot(
            reason: .powerCut, downMilliseconds: 42_000, starting: starting([true, false, false, false, true, false]),
            specs: Self.specs, at: base.moment(1)
        ) { HealthReport() }
        #expect(
            drafts.map(\.body) == [
                .boot(
                    BootReport(
                        reason: .powerCut, downMilliseconds: 42_000,
                        found: [FoundInput(input: "enclosure", state: .enclosureOpen)]))
            ])
        #expect(engine.persistentState.openEnclosures == ["enclosure"])
        // Shut later: its restore record.
        let closed = engine.handle(base.event(.enclosureClosed, "enclosure", role: .tamper, at: 5), at: base.moment(5))
        { HealthReport() }
        #expect(closed.map(\.body) == [.restored(reason: .enclosure, input: "enclosure")])
        #expect(engine.persistentState.openEnclosures.isEmpty)
    }

    @Test("engine at boot: a fault that appeared while off raises its alert; one that ended gets its restore")
    func engineBootNewAndEnded() {
        var engine = base.engine(restoring: .init(inputFaults: ["driver-emergency"], powerLost: ["main-power"]))
        let drafts = engine.boot(
            reason: .cleanRestart, downMilliseconds: nil, starting: starting([true, false, false, false, true, false]),
            specs: Self.specs, at: base.moment(1)
        ) { HealthReport() }
        #expect(drafts.map(\.body.kind) == [.boot, .tamper, .restored, .health, .power])
        #expect(drafts[1].body == .tamper(reason: .enclosure, input: "enclosure"))
        #expect(drafts[2].body == .restored(reason: .wireCut, input: "driver-emergency"))
        #expect(drafts[4].body == .power(state: .restored, input: "main-power"))
        #expect(engine.persistentState.inputFaults.isEmpty && engine.persistentState.powerLost.isEmpty)
        #expect(engine.persistentState.openEnclosures == ["enclosure"])
    }

    @Test("ignition on and off are ignition records, not alerts")
    func ignitionRecords() {
        var engine = base.engine()
        let on = engine.handle(base.event(.ignitionOn, "ignition", role: .ignition, at: 1), at: base.moment(1)) {
            HealthReport()
        }
        let off = engine.handle(base.event(.ignitionOff, "ignition", role: .ignition, at: 2), at: base.moment(2)) {
            HealthReport()
        }
        #expect(on.map(\.body) == [.ignition(state: .on, input: "ignition")])
        #expect(off.map(\.body) == [.ignition(state: .off, input: "ignition")])
        #expect(!RecordKind.ignition.isAlert && !RecordKind.boot.isAlert && !RecordKind.restored.isAlert)
        #expect(RecordKind.restored.isUrgent && !RecordKind.boot.isUrgent && !RecordKind.ignition.isUrgent)
    }

    @Test("an alert-state file written before enclosure and power were kept still decodes")
    func oldStateDecodes() throws {
        let old = #"{"openHelp":[],"inputFaults":["driver-emergency"]}"#
        let state = try JSONDecoder().decode(AlertEngine.PersistentState.self, from: Data(old.utf8))
        #expect(state == .init(inputFaults: ["driver-emergency"]))
    }
}
