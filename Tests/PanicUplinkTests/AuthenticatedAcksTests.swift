import AsyncHTTPClient
import ControlRoomKit
import Foundation
import NIOCore
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Testing

/// Someone on the control room's network without the box's key: it posts batches naming the box, as any HTTP
/// client can, and acknowledges every command nonce it learns.
struct Attacker {
    let url: String
    let device: String
    let forgedKey = DeviceKey.generate()

    /// One request; returns the answer (nil when refused with an HTTP error).
    func post(_ batch: RecordBatch) async throws -> RecordBatchResponse? {
        var request = HTTPClientRequest(url: url + "/v1/records")
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(batch)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { return nil }
        return try JSONDecoder().decode(RecordBatchResponse.self, from: Data(body.readableBytesView))
    }

    /// Polls the way every variant it can make (unsigned, signed with its own key, signed as the box by its own
    /// key), then acknowledges every nonce the answers reveal. Returns the commands it was given.
    func pollAndAck(now: RecordTime) async throws -> [String] {
        let unsigned = RecordBatch(device: device, envelopes: [])
        let forged = try BatchSigner(key: forgedKey).sign(unsigned, time: now)
        var commands: [String] = []
        for batch in [unsigned, forged] { commands += try await post(batch)?.commands ?? [] }
        let nonces = commands.compactMap(Attacker.nonce(of:))
        if !nonces.isEmpty {
            _ = try await post(RecordBatch(device: device, envelopes: [], commandAcks: nonces))
            _ = try await post(
                try BatchSigner(key: forgedKey).sign(
                    RecordBatch(device: device, envelopes: [], commandAcks: nonces), time: now))
        }
        return commands
    }

    /// A command's nonce, read from its payload (no key needed to read a JWS).
    static func nonce(of command: String) -> String? {
        let parts = command.split(separator: ".")
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
        return (try? JSONDecoder().decode(ControlCommand.self, from: payload))?.nonce
    }
}

@Suite("Only the box acknowledges its commands", .timeLimit(.minutes(3)))
struct AuthenticatedAcksTests {
    @Test("an attacker polling and acking without the key gets no commands; the box still gets accept and clear")
    func attackerCannotSwallowCommands() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(directory: directory.path, wallClock: wall) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            let attacker = Attacker(url: server.url, device: device.id)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
                clock: clock, wallClock: wall, seed: 7, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            var transitions = uplink.alerts.transitions.makeAsyncIterator()
            try await withUplink(uplink) {
                let press = emergency(at: wall())
                try uplink.submit(press)
                try await drive(uplink, events: &events, clock: clock) { uplink.alerts.state(of: press.id) == .sent }

                try await server.room.accept(device: device.id, alert: press.id)
                // The box waits for its next poll (virtual time stands still): the attacker goes first.
                #expect(try await attacker.pollAndAck(now: wall()).isEmpty)
                try await drive(uplink, events: &events, clock: clock, maxEvents: 400) {
                    uplink.alerts.state(of: press.id) == .acknowledged
                }

                try await server.room.clear(device: device.id, alert: press.id)
                #expect(try await attacker.pollAndAck(now: wall()).isEmpty)
                try await drive(uplink, events: &events, clock: clock, maxEvents: 400) {
                    try await server.room.allAlerts().first?.deviceCleared == true
                }

                // The LED follows: stored, sent, help on the way, cleared.
                var situation = IndicatorPolicy.Situation()
                var shown: [IndicatorState] = []
                for _ in 0..<4 {
                    guard let transition = await transitions.next() else { break }
                    situation.apply(transition)
                    shown.append(IndicatorPolicy.show(situation, justCleared: transition.to == .cleared))
                }
                #expect(shown == [.stored, .sent, .helpOnTheWay, .cleared])
                #expect(uplink.alerts.state(of: press.id) == .cleared)
            }
        }
    }

    @Test("a box whose clock is ten minutes off learns the control room's time and still gets its commands")
    func skewedClockStillAuthenticates() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let roomClock: @Sendable () -> RecordTime = {
            RecordTime(epochMilliseconds: wall().epochMilliseconds + 600_000)
        }
        try await withControlRoom(directory: directory.path, wallClock: roomClock) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
                clock: clock, wallClock: wall, seed: 8, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                let press = emergency(at: wall())
                try uplink.submit(press)
                try await drive(uplink, events: &events, clock: clock) { uplink.alerts.state(of: press.id) == .sent }
                try await server.room.accept(device: device.id, alert: press.id)
                try await drive(uplink, events: &events, clock: clock, maxEvents: 400) {
                    uplink.alerts.state(of: press.id) == .acknowledged
                }
            }
        }
    }
}
