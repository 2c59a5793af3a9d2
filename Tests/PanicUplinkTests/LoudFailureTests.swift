import ControlRoomKit
import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// Keeps every log message at warning or above, with its metadata, for a test to look at.
final class CapturedLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let entries = Mutex<[Entry]>([])

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(log: self) }
    }

    func contains(_ level: Logger.Level, _ text: String, reason: String) -> Bool {
        entries.withLock { entries in
            entries.contains {
                $0.level >= level && $0.message.contains(text) && $0.metadata.values.contains { $0.contains(reason) }
            }
        }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }.mapValues { "\($0)" }
            log.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: all)) }
        }
    }
}

@Suite("Misconfiguration is loud: logged with the reason, a health fault, an uplink event", .timeLimit(.minutes(2)))
struct LoudFailureTests {
    @Test("a wrongly pinned control-room key: refused commands raise commands-refused, logged at error")
    func misPinnedKey() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let log = CapturedLog()
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: DeviceKey.generate().identity)],
                clock: clock, wallClock: wall, seed: 5, logger: log.logger)
            var events = uplink.events.makeAsyncIterator()
            var seen: [UplinkEvent] = []
            try await withUplink(uplink) {
                let press = emergency(at: wall())
                try uplink.submit(press)
                try await drive(uplink, events: &events, clock: clock) { uplink.alerts.state(of: press.id) == .sent }
                try await server.room.accept(device: device.id, alert: press.id)
                while !uplink.faults.contains(where: { $0.description == "commands-refused:cr" }),
                    let event = await events.next()
                {
                    seen.append(event)
                    if case .idle(_, let until?) = event { clock.advance(to: until) }
                }
                #expect(uplink.alerts.state(of: press.id) == .sent)
            }
            while let event = await events.next() { seen.append(event) }
            let fault = try #require(uplink.faults.first { $0.description == "commands-refused:cr" })
            #expect(fault.reason.contains("forged"))
            #expect(seen.contains(.fault(fault)))
            #expect(log.contains(.error, "commands from the backend keep failing", reason: "forged"))
        }
    }

    @Test("a backend that refuses every record: backend-failing raised with the reason, and cleared once it takes them")
    func refusingBackend() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let log = CapturedLog()
        try await withControlRoom(directory: directory.path) { server in
            // Not registered: every record comes back `unknown-device`.
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                backends: [.init(name: "cr", url: server.url, controlRoomKey: server.key.identity)],
                clock: clock, wallClock: wall, seed: 5, logger: log.logger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                for index in 0..<3 { try uplink.submit(position(index, at: wall())) }
                // Wait for the fault's event, not `faults`: the two lanes run apart, so the other lane's events can
                // arrive between the fault being raised and its log line; the event is yielded after the line.
                var raised = false
                while !raised, let event = await events.next() {
                    if case .fault(let fault) = event, fault.description == "backend-failing:cr" { raised = true }
                    if case .idle(_, let until?) = event { clock.advance(to: until) }
                }
                #expect(raised)
                #expect(uplink.faults.contains { $0.description == "backend-failing:cr" })
                #expect(log.contains(.error, "backend keeps failing", reason: "unknown-device"))
                try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
                try await drive(uplink, events: &events, clock: clock) {
                    try device.outbox.status().undelivered == 0 && uplink.faults.isEmpty
                }
            }
        }
    }
}
