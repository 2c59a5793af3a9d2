import PanicCore
import Testing

/// Tracking while an alert is open, driven on the engine's own deadlines (a virtual clock: each tick is taken at
/// ``AlertEngine/nextDeadline``): any open alert — help too — tracks at the emergency rate, and a booth in privacy
/// mode sends positions during an open alert and none outside one.
@Suite("Tracking while any alert is open")
struct AlertKindTrackingTests {
    let base = AlertEngineTests()

    /// Ticks `engine` at its deadlines up to (not including) `end` seconds; the positions made, by second.
    func run(_ engine: inout AlertEngine, until end: Int) -> [(second: Int, fix: RecordFix?)] {
        var positions: [(Int, RecordFix?)] = []
        while engine.nextDeadline < MonotonicInstant(sinceOrigin: .seconds(end)) {
            let second = Int(engine.nextDeadline.sinceOrigin.components.seconds)
            for draft in engine.tick(base.moment(second), health: { HealthReport() }) where draft.body.kind == .position
            {
                positions.append((second, draft.fix))
            }
        }
        return positions
    }

    static let configuration = AlertEngine.Configuration(
        positionInterval: .seconds(60), emergencyPositionInterval: .seconds(10), emergencyTrackingAfter: .seconds(30),
        healthInterval: .seconds(3600))

    @Test("a help request starts fast tracking, like an emergency, until it is cleared and the tracking-after ends")
    func helpTracksFast() {
        var engine = base.engine(Self.configuration)
        #expect(run(&engine, until: 100).map(\.second) == [0, 60])
        let help = engine.handle(base.event(.help, "help", role: .help, at: 100), at: base.moment(100)) {
            HealthReport()
        }
        #expect(help.map(\.body.kind) == [.help])
        #expect(engine.alertOpen && !engine.emergencyOpen)
        #expect(engine.positionInterval(at: MonotonicInstant(sinceOrigin: .seconds(101))) == .seconds(10))
        #expect(run(&engine, until: 145).map(\.second) == [110, 120, 130, 140])
        engine.alertStateChanged(alert: help[0].id, to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(145)))
        #expect(!engine.alertOpen)
        // Tracking-after: 30 s at the fast rate from the clearing, then the normal rate again.
        #expect(run(&engine, until: 300).map(\.second) == [150, 160, 170, 180, 240])
    }

    @Test("privacy mode: no position outside an alert, positions at the emergency rate while one is open")
    func privacyTracksDuringAlerts() {
        var engine = base.engine(
            .init(
                positionInterval: .seconds(60), emergencyPositionInterval: .seconds(10),
                emergencyTrackingAfter: .seconds(30), healthInterval: .seconds(3600), privacyMode: true))
        #expect(run(&engine, until: 100).isEmpty, "no position outside an alert")
        for (kind, role, name) in [(InputEventKind.help, InputRole.help, "help"), (.emergency, .emergency, "driver")] {
            let now = kind == .help ? 100 : 300
            let alert = engine.handle(base.event(kind, name, role: role, at: now), at: base.moment(now)) {
                HealthReport()
            }
            #expect(alert.first?.fix == AlertEngineTests.fix, "the alert carries where it happened")
            let during = run(&engine, until: now + 45)
            #expect(during.map(\.second) == [now + 10, now + 20, now + 30, now + 40], "\(kind)")
            #expect(during.allSatisfy { $0.fix == AlertEngineTests.fix }, "positions during the alert are located")
            engine.alertStateChanged(
                alert: alert[0].id, to: .cleared, at: MonotonicInstant(sinceOrigin: .seconds(now + 45)))
            #expect(run(&engine, until: now + 200).isEmpty, "nothing after the alert is cleared")
        }
        let health = engine.tick(base.moment(3600)) { HealthReport() }
        #expect(health.map(\.body.kind) == [.health])
        #expect(health.first?.fix == nil, "outside an alert no record says where the booth is")
    }
}
