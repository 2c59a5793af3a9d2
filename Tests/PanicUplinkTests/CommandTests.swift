import ControlRoomKit
import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

@Suite("Control-room commands on the device", .timeLimit(.minutes(5)))
struct CommandGateTests {
    let controlRoomKey = DeviceKey.generate()
    let deviceID = "pb-0011223344556677"
    let now = RecordTime(epochMilliseconds: 1_764_000_000_000)

    func lifecycle(with alert: String) -> AlertLifecycle {
        var lifecycle = AlertLifecycle()
        _ = lifecycle.stored(alert: alert, kind: .emergency)
        _ = lifecycle.delivered(alert: alert)
        return lifecycle
    }

    func command(
        _ action: CommandAction, alert: String = "alert-1", device: String? = nil, nonce: String = "n1",
        expiresIn seconds: Int64 = 300, key: DeviceKey? = nil
    ) throws -> String {
        let command = ControlCommand(
            action: action, device: device ?? deviceID, alert: alert, nonce: nonce, issued: now,
            expires: RecordTime(epochMilliseconds: now.epochMilliseconds + seconds * 1000))
        return try CommandSigner(key: key ?? controlRoomKey).sign(command)
    }

    var verifier: CommandSignatureVerifier { CommandSignatureVerifier(controlRoom: controlRoomKey.identity) }

    @Test("a genuine accept command passes")
    func genuine() throws {
        var gate = CommandGate(deviceID: deviceID)
        let result = gate.check(
            try command(.accept), verifier: verifier, lifecycle: lifecycle(with: "alert-1"), now: now)
        #expect(try result.get().action == .accept)
    }

    @Test("dispatch and arrive commands pass in order; one that would move the alert back is refused as stale")
    func responderStages() throws {
        var gate = CommandGate(deviceID: deviceID)
        var lifecycle = lifecycle(with: "alert-1")
        let dispatch = gate.check(
            try command(.dispatch, nonce: "d"), verifier: verifier, lifecycle: lifecycle, now: now)
        #expect(try dispatch.get().action == .dispatch)
        _ = lifecycle.commanded(.dispatch, alert: "alert-1")
        _ = lifecycle.commanded(.arrive, alert: "alert-1")
        let late = gate.check(try command(.dispatch, nonce: "d2"), verifier: verifier, lifecycle: lifecycle, now: now)
        #expect(late == .failure(.stale(alert: "alert-1", state: .onScene)))
        let accept = gate.check(try command(.accept, nonce: "a"), verifier: verifier, lifecycle: lifecycle, now: now)
        #expect(accept == .failure(.stale(alert: "alert-1", state: .onScene)))
        let clear = gate.check(try command(.clear, nonce: "c"), verifier: verifier, lifecycle: lifecycle, now: now)
        #expect(try clear.get().action == .clear)
    }

    @Test("a clear command signed by another key is refused as forged")
    func forgedByOtherKey() throws {
        var gate = CommandGate(deviceID: deviceID)
        let forged = try command(.clear, key: DeviceKey.generate())
        let result = gate.check(forged, verifier: verifier, lifecycle: lifecycle(with: "alert-1"), now: now)
        guard case .failure(.forged(.unknownKey)) = result else {
            Issue.record("expected a forged-command refusal, got \(result)")
            return
        }
    }

    @Test("a clear command whose payload was altered after signing is refused as forged")
    func tampered() throws {
        var gate = CommandGate(deviceID: deviceID)
        let genuine = try command(.accept)
        let parts = genuine.split(separator: ".").map(String.init)
        let payload = try #require(Base64URL.decode(parts[1]))
        let altered = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "accept", with: "clear")
        let forged = [parts[0], Base64URL.encode(Data(altered.utf8)), parts[2]].joined(separator: ".")
        let result = gate.check(forged, verifier: verifier, lifecycle: lifecycle(with: "alert-1"), now: now)
        guard case .failure(.forged(.badSignature)) = result else {
            Issue.record("expected a bad-signature refusal, got \(result)")
            return
        }
    }

    @Test("an expired clear command is refused")
    func expired() throws {
        var gate = CommandGate(deviceID: deviceID)
        let result = gate.check(
            try command(.clear, expiresIn: -1), verifier: verifier, lifecycle: lifecycle(with: "alert-1"), now: now)
        guard case .failure(.expired) = result else {
            Issue.record("expected an expiry refusal, got \(result)")
            return
        }
    }

    @Test("the same command twice is refused the second time as a replay")
    func replayed() throws {
        var gate = CommandGate(deviceID: deviceID)
        let text = try command(.accept)
        let alerts = lifecycle(with: "alert-1")
        _ = try gate.check(text, verifier: verifier, lifecycle: alerts, now: now).get()
        let again = gate.check(text, verifier: verifier, lifecycle: alerts, now: now)
        #expect(again == .failure(.replayed(nonce: "n1")))
    }

    @Test("a command for another device or an unknown alert is refused as mismatched")
    func mismatched() throws {
        var gate = CommandGate(deviceID: deviceID)
        let alerts = lifecycle(with: "alert-1")
        let otherDevice = gate.check(
            try command(.clear, device: "pb-ffffffffffffffff", nonce: "a"), verifier: verifier, lifecycle: alerts,
            now: now)
        #expect(otherDevice == .failure(.wrongDevice("pb-ffffffffffffffff")))
        let unknown = gate.check(
            try command(.clear, alert: "nope", nonce: "b"), verifier: verifier, lifecycle: alerts, now: now)
        #expect(unknown == .failure(.unknownAlert("nope")))
    }
}

@Suite("Operator actions reach the box over HTTP", .timeLimit(.minutes(5)))
struct OperatorActionTests {
    /// One box with an emergency the control room on loopback has accepted: `body` goes on from help on the way,
    /// driving virtual time with `until`, and gets every transition the box made.
    func withAcceptedEmergency(
        seed: UInt64, logger: Logger = quietLogger, prepare: (RunningControlRoom) async throws -> Void = { _ in },
        _ body: (_ server: RunningControlRoom, _ device: TestDevice, _ press: RecordDraft, _ until: Driver) async throws
            -> Void
    ) async throws -> [AlertState] {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        return try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            try await prepare(server)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
                clock: clock, wallClock: wall, seed: seed, logger: logger)
            let driver = Driver(uplink: uplink, clock: clock)
            let transitions = uplink.alerts.transitions
            try await withUplink(uplink) {
                let press = emergency(at: wall())
                try uplink.submit(press)
                try await driver.until { uplink.alerts.state(of: press.id) == .sent }
                try await server.room.accept(device: device.id, alert: press.id)
                try await driver.until { uplink.alerts.state(of: press.id) == .acknowledged }
                try await body(server, device, press, driver)
            }
            var seen: [AlertState] = []
            for await transition in transitions { seen.append(transition.to) }
            return seen
        }
    }

    @Test("accept then clear: stored → sent → help on the way → cleared, and a cleared record goes back")
    func acceptThenClear() async throws {
        let seen = try await withAcceptedEmergency(seed: 4) { server, device, press, driver in
            try await server.room.clear(device: device.id, alert: press.id)
            try await driver.until { try await server.room.allAlerts().first?.deviceCleared == true }
            #expect(try await server.room.openAlerts().isEmpty)
            let kinds = try await server.room.arrivalOrder(device: device.id).map(\.kind)
            #expect(kinds == [.emergency, .cleared])
        }
        #expect(seen == [.stored, .sent, .acknowledged, .cleared])
    }

    /// The alert's own transition is the daemon's one notice line per event (docs/daemon.md → *Logs*); the command
    /// that caused it is a detail at info, so an acknowledgement is not logged at notice twice.
    @Test("an accepted and a clearing command are logged below notice: the transition is the event's notice line")
    func commandsBelowNotice() async throws {
        let handler = CapturedLines()
        let logger = Logger(label: "uplink") { _ in handler }
        _ = try await withAcceptedEmergency(seed: 6, logger: logger) { server, device, press, driver in
            try await server.room.clear(device: device.id, alert: press.id)
            try await driver.until { try await server.room.allAlerts().first?.deviceCleared == true }
        }
        let lines = handler.lines.withLock { $0 }
        #expect(lines.contains { $0.1.contains("command accepted") }, "the commands are logged")
        let notices = lines.filter { $0.0 >= .notice && $0.1.contains("command accepted") }
        #expect(notices.isEmpty, "\(notices)")
    }

    @Test("the desk's dispatch stages reach the box: help on the way → responder dispatched → on scene → cleared")
    func dispatchStages() async throws {
        let van = DeviceKey.generate()
        let seen = try await withAcceptedEmergency(seed: 5) { server in
            try await server.room.addDevice(id: van.identity.deviceID, publicKey: van.identity.jwk)
            try await server.room.editDevice(
                id: van.identity.deviceID, DeviceMetadataEdit(name: "PCR van 12", responder: true))
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
        } _: { server, device, press, driver in
            let asha = try #require(try await server.room.account(name: "asha"))
            let state = { driver.uplink.alerts.state(of: press.id) }
            try await server.room.dispatch(
                device: device.id, alert: press.id, responder: van.identity.deviceID, stage: .dispatched, by: asha)
            try await driver.until { state() == .dispatched }
            try await server.room.dispatch(
                device: device.id, alert: press.id, responder: van.identity.deviceID, stage: .onScene, by: asha)
            try await driver.until { state() == .onScene }
            try await server.room.clear(device: device.id, alert: press.id)
            try await driver.until { try await server.room.allAlerts().first?.deviceCleared == true }
            let audit = try await server.room.audit(device: device.id, alert: press.id).map(\.reason)
            #expect(audit.contains("\(van.identity.deviceID) dispatched"))
        }
        #expect(seen == [.stored, .sent, .acknowledged, .dispatched, .onScene, .cleared])
        // What the box was shown, stage by stage.
        var situation = IndicatorPolicy.Situation()
        var shown: [IndicatorState] = []
        for state in seen.dropLast() {
            situation.apply(AlertTransition(alert: "a", kind: .emergency, from: nil, to: state))
            shown.append(IndicatorPolicy.show(situation))
        }
        #expect(shown == [.stored, .sent, .helpOnTheWay, .helpDispatched, .helpOnScene])
    }

    /// (A control room whose clock is an hour slow no longer makes its commands expired: the box judges expiry on
    /// the control room's clock, `CommandClockTests` in ControlRoomKitTests.)
    @Test("commands signed by a key the box did not pin change nothing")
    func forgedOverHTTP() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let device = try TestDevice(directory: directory.file(UUID().uuidString))
        try await withControlRoom(directory: directory.path, wallClock: wall) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: DeviceKey.generate().identity)],
                clock: clock, wallClock: wall, seed: 5, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                let press = emergency(at: wall())
                try uplink.submit(press)
                try await drive(uplink, events: &events, clock: clock) { uplink.alerts.state(of: press.id) == .sent }
                try await server.room.clear(device: device.id, alert: press.id)
                // Let the box poll several times.
                let later = clock.now.advanced(by: .seconds(30))
                try await drive(uplink, events: &events, clock: clock) { clock.now >= later }
                #expect(uplink.alerts.state(of: press.id) == .sent)
                #expect(try await server.room.allAlerts().first?.deviceCleared == false)
                #expect(try await server.room.recordCount(device: device.id) == 1)
            }
        }
    }
}

/// Keeps every log line with its level.
final class CapturedLines: LogHandler, Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {
        lines.withLock { $0.append((event.level, event.message.description)) }
    }
}
