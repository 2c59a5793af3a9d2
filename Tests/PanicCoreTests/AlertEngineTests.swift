import PanicCore
import Synchronization
import Testing

@Suite("Alert engine")
struct AlertEngineTests {
    /// Record ids a1, a2, … in order.
    final class Counter: Sendable {
        let next = Mutex(0)
        func id() -> String {
            next.withLock {
                $0 += 1; return "a\($0)"
            }
        }
    }

    static let fix = RecordFix(latitude: 26.9, longitude: 75.8, mode: .threeD, ageMilliseconds: 400)

    func moment(_ seconds: Int, fix: RecordFix? = AlertEngineTests.fix) -> AlertEngine.Moment {
        .init(
            now: MonotonicInstant(sinceOrigin: .seconds(seconds)),
            time: RecordTime(epochMilliseconds: Int64(seconds) * 1000),
            timeSource: .gnss, fix: fix)
    }

    func event(
        _ kind: InputEventKind, _ name: String = "driver", role: InputRole = .emergency, at seconds: Int
    )
        -> InputEvent
    {
        let at = MonotonicInstant(sinceOrigin: .seconds(seconds))
        return InputEvent(line: 0, name: name, role: role, kind: kind, since: at, at: at)
    }

    func engine(
        _ configuration: AlertEngine.Configuration = .init(), restoring: AlertEngine.PersistentState = .init()
    )
        -> AlertEngine
    {
        let counter = Counter()
        return AlertEngine(configuration: configuration, restoring: restoring, now: .zero, makeID: { counter.id() })
    }

    @Test("an emergency is latched: later presses add nothing until the control room clears it")
    func emergencyLatched() {
        var engine = engine()
        let first = engine.handle(event(.emergency, at: 10), at: moment(10)) { HealthReport() }
        #expect(first.map(\.body) == [.emergency(input: "driver")])
        #expect(first.first?.fix == Self.fix)
        #expect(engine.persistentState.openEmergency == first.first?.id)
        #expect(engine.handle(event(.emergency, "seats", at: 20), at: moment(20)) { HealthReport() }.isEmpty)
        engine.alertStateChanged(alert: "other", to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(25)))
        #expect(engine.emergencyOpen)
        engine.alertStateChanged(alert: first[0].id, to: .acknowledged, at: MonotonicInstant(sinceOrigin: .seconds(30)))
        #expect(engine.emergencyOpen)
        engine.alertStateChanged(alert: first[0].id, to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(40)))
        #expect(!engine.emergencyOpen)
        let again = engine.handle(event(.emergency, at: 50), at: moment(50)) { HealthReport() }
        #expect(again.map(\.body) == [.emergency(input: "driver")])
    }

    @Test("positions come at the emergency rate while open and for the configured time after clearing")
    func positionRates() {
        let configuration = AlertEngine.Configuration(
            positionInterval: .seconds(60), emergencyPositionInterval: .seconds(10),
            emergencyTrackingAfter: .seconds(120),
            healthInterval: .seconds(3600))
        var engine = engine(configuration)
        #expect(engine.positionInterval(at: .zero) == .seconds(60))
        let alert = engine.handle(event(.emergency, at: 5), at: moment(5)) { HealthReport() }
        #expect(engine.positionInterval(at: MonotonicInstant(sinceOrigin: .seconds(6))) == .seconds(10))
        engine.alertStateChanged(alert: alert[0].id, to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(100)))
        #expect(engine.positionInterval(at: MonotonicInstant(sinceOrigin: .seconds(219))) == .seconds(10))
        #expect(engine.positionInterval(at: MonotonicInstant(sinceOrigin: .seconds(221))) == .seconds(60))
    }

    @Test("ticks produce positions on schedule and health records, with no position without a fix")
    func ticks() {
        var engine = engine(.init(positionInterval: .seconds(60), healthInterval: .seconds(300)))
        let first = engine.tick(moment(0)) { HealthReport(queueDepth: 7) }
        #expect(first.map(\.body.kind) == [.position, .health])
        if case .health(let report) = first[1].body { #expect(report.queueDepth == 7) }
        #expect(engine.nextDeadline == MonotonicInstant(sinceOrigin: .seconds(60)))
        #expect(engine.tick(moment(60, fix: nil)) { HealthReport() }.isEmpty)
        #expect(engine.tick(moment(120)) { HealthReport() }.map(\.body.kind) == [.position])
    }

    @Test("privacy mode sends no positions, but alerts still carry their fix")
    func privacy() {
        var engine = engine(.init(privacyMode: true))
        #expect(engine.tick(moment(0)) { HealthReport() }.map(\.body.kind) == [.health])
        #expect(engine.tick(moment(0)) { HealthReport() }.first?.fix == nil)
        let alert = engine.handle(event(.emergency, at: 1), at: moment(1)) { HealthReport() }
        #expect(alert.first?.fix == Self.fix)
    }

    @Test("a cut loop is a tamper record and a fault until restored; a stuck button is a fault, not an alert")
    func faults() {
        var engine = engine()
        let cut = engine.handle(event(.wireCut, "seats", at: 10), at: moment(10)) { HealthReport() }
        #expect(cut.map(\.body) == [.tamper(reason: .wireCut, input: "seats")])
        #expect(engine.persistentState.inputFaults == ["seats"])
        let stuck = engine.handle(event(.stuck, "help", role: .help, at: 11), at: moment(11)) { HealthReport() }
        guard case .health(let report) = stuck.first?.body else {
            Issue.record("expected a health record, got \(stuck)")
            return
        }
        #expect(report.inputFaults == ["seats", "help"])
        _ = engine.handle(event(.wireRestored, "seats", at: 12), at: moment(12)) { HealthReport() }
        #expect(engine.persistentState.inputFaults == ["help"])
    }

    @Test("power and enclosure become power and tamper records; help is its own alert")
    func otherInputs() {
        var engine = engine()
        let records = [
            event(.powerLost, "main", role: .power, at: 1), event(.powerRestored, "main", role: .power, at: 2),
            event(.enclosureOpened, "lid", role: .tamper, at: 3), event(.help, "help", role: .help, at: 4),
            event(.help, "help", role: .help, at: 5),
        ].flatMap { engine.handle($0, at: moment(Int($0.at.sinceOrigin.components.seconds))) { HealthReport() } }
        #expect(
            records.map(\.body) == [
                .power(state: .lost, input: "main"), .power(state: .restored, input: "main"),
                .tamper(reason: .enclosure, input: "lid"), .help(input: "help"),
            ])
    }

    @Test("an open emergency survives a restart through the persistent state")
    func restart() {
        var before = engine()
        let alert = before.handle(event(.emergency, at: 1), at: moment(1)) { HealthReport() }
        var after = engine(restoring: before.persistentState)
        #expect(after.emergencyOpen)
        #expect(after.positionInterval(at: .zero) == .seconds(10))
        #expect(after.handle(event(.emergency, at: 2), at: moment(2)) { HealthReport() }.isEmpty)
        after.alertStateChanged(alert: alert[0].id, to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(3)))
        #expect(!after.emergencyOpen)
    }
}
