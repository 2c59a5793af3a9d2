import ControlRoomKit
import Foundation
import PanicCore
import PanicStore
import PanicUplink
import Testing

@Suite("SENT means the control room has the alert, not a tracking server", .timeLimit(.minutes(2)))
struct AuthorityRoleTests {
    static let imei = "490154203237518"

    /// The LED for the emergency in its current state, as the box decides it.
    func led(_ uplink: Uplink, _ alert: String) -> IndicatorState {
        guard let state = uplink.alerts.state(of: alert) else { return .armed }
        return IndicatorPolicy.show(.init(alerts: [alert: .init(kind: .emergency, state: state)]))
    }

    @Test(
        "control room down, Traccar answering 200 over HTTP: the emergency is not SENT; the control room's ack makes it"
    )
    func trackingAcknowledgementIsNotSent() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let traccar = OsmAndReceiver(knownID: Self.imei)
        try await withControlRoom(directory: directory.path, wallClock: wall) { room in
            try await room.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            // The control room is unreachable: every connection is dropped before the request is read.
            room.faults.set(.resetConnection)
            try await traccar.run { url in
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                    backends: [
                        BackendConfiguration(
                            name: "control-room", url: room.url, controlRoomKey: room.key.identity,
                            requestTimeout: .seconds(60)),
                        BackendConfiguration(
                            name: "traccar", url: url, requestTimeout: .seconds(60),
                            wire: .osmAnd(OsmAndOptions(deviceID: Self.imei))),
                    ], clock: clock, wallClock: wall, seed: 5, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    let press = emergency(at: wall())
                    guard case .stored(let record) = try uplink.submit(press) else {
                        Issue.record("the press was not committed")
                        return
                    }
                    // Until Traccar has acknowledged the emergency (its 200 settled) and the control room failed.
                    var traccarTook = false
                    var roomFailed = false
                    while !(traccarTook && roomFailed), let event = await events.next() {
                        switch event {
                        case .delivered(backend: "traccar", _, _):
                            traccarTook = try device.outbox.deliveredSequences(backend: "traccar").contains(
                                record.sequence)
                        case .failed(backend: "control-room", _, _): roomFailed = true
                        case .idle(_, let until?): clock.advance(to: until)
                        default: break
                        }
                    }
                    #expect(traccar.requests.contains { $0["alarm"] == "sos" }, "Traccar has the emergency")
                    #expect(uplink.alerts.state(of: press.id) == .stored)
                    #expect(led(uplink, press.id) == .stored, "the LED said SENT while the police had nothing")

                    // The control room comes back and takes it: now, and only now, SENT.
                    room.faults.set(nil)
                    try await drive(uplink, events: &events, clock: clock) {
                        uplink.alerts.state(of: press.id) == .sent
                    }
                    #expect(led(uplink, press.id) == .sent)
                    #expect(try device.outbox.deliveredSequences(backend: "control-room").contains(record.sequence))
                }
            }
        }
    }
}
