import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// A Traccar-like OsmAnd receiver on loopback: records each request's query items, answers 200 (or 400 for an
/// unknown id, as Traccar does, or 500 while `failing`).
final class OsmAndReceiver: Sendable {
    struct State {
        var requests: [[String: String]] = []
        var failing = false
    }
    let state = Mutex(State())
    let knownID: String

    init(knownID: String) { self.knownID = knownID }

    var requests: [[String: String]] { state.withLock { $0.requests } }
    func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    func run<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/") { request, _ -> HTTPResponse.Status in
            var items: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { items[String(name)] = String(value) }
            return self.state.withLock { state in
                if state.failing { return .internalServerError }
                guard items["id"] == self.knownID else { return .badRequest }
                state.requests.append(items)
                return .ok
            }
        }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) }, logger: quietLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let result = try await body("http://127.0.0.1:\(port)/")
            group.cancelAll()
            return result
        }
    }
}

/// Runs an AIS-140 reference receiver while `body` runs.
func withAIS140Receiver<T: Sendable>(
    behaviour: AIS140ReferenceReceiver.Behaviour = .standard, _ body: (AIS140ReferenceReceiver) async throws -> T
) async throws -> T {
    let receiver = try await AIS140ReferenceReceiver(behaviour: behaviour)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await receiver.run() }
        let result = try await body(receiver)
        group.cancelAll()
        return result
    }
}

@Suite("Delivery to AIS-140 and OsmAnd receivers over real TCP and HTTP on loopback", .timeLimit(.minutes(2)))
struct ReceiverDeliveryTests {
    static let identity = BoxIdentity(imei: "490154203237518", vehicleRegistration: "RJ14PB1234", vendorID: "ACME")

    static func ais140(_ url: String, emergencyOnly: Bool = false, batch: Int = 25) -> BackendConfiguration {
        BackendConfiguration(
            name: emergencyOnly ? "erss" : "vlt", url: url, batchSize: batch, requestTimeout: .seconds(60),
            wire: .ais140(AIS140Options(identity: identity, emergencyOnly: emergencyOnly)))
    }

    func tamper(at time: RecordTime) -> RecordDraft {
        RecordDraft(
            id: UUID().uuidString.lowercased(), time: time, timeSource: .gnss,
            fix: RecordFix(latitude: 28.6, longitude: 77.2, ageMilliseconds: 500),
            body: .tamper(reason: .wireCut, input: "panic-1"))
    }

    func power(_ state: PowerState, at time: RecordTime) -> RecordDraft {
        RecordDraft(
            id: UUID().uuidString.lowercased(), time: time, timeSource: .gnss,
            fix: RecordFix(latitude: 28.6, longitude: 77.2, ageMilliseconds: 500),
            body: .power(state: state, input: nil))
    }

    @Test("an outage, then recovery: every record reaches the AIS-140 server once, alerts first, backlog as H")
    func ais140Outage() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withAIS140Receiver(behaviour: .down) { receiver in
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, backends: [Self.ais140(receiver.url)], clock: clock,
                wallClock: wall, seed: 5, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                for index in 0..<40 { try uplink.submit(position(index, at: wall())) }
                // Five minutes of outage: the positions become backlog.
                let later = clock.now.advanced(by: .seconds(300))
                try await drive(uplink, events: &events, clock: clock) { clock.now >= later }
                try uplink.submit(emergency(at: wall()))
                try uplink.submit(tamper(at: wall()))
                try uplink.submit(power(.lost, at: wall()))
                let failed = try await nextFailure(&events, lane: .alert)
                #expect(failed.contains("closed the connection at login"), "\(failed)")
                // Nothing in flight any more: the link comes back while both lanes wait.
                while let event = await events.next() {
                    if case .idle = event { break }
                }
                // The idle event is sent while its own event is still being handled.
                while uplink.isBusy { await Task.yield() }
                #expect(try device.outbox.status().undelivered == 43)
                receiver.set(.standard)
                try await drive(uplink, events: &events, clock: clock) { try device.outbox.status().undelivered == 0 }
            }
            let positions = receiver.positions
            #expect(positions.count == 43)
            #expect(Set(positions.map(\.imei)) == ["490154203237518"])
            // Alerts first (their own lane), then the backlog, in order, as history.
            #expect(Set(positions.prefix(2).compactMap(\.alarm)).isSubset(of: ["sos", "tampering", "powerCut"]))
            #expect(positions.prefix(3).compactMap(\.alarm).count >= 2)
            let backlog = positions.filter { $0.alarm == nil }
            #expect(backlog.count == 40)
            #expect(backlog.allSatisfy { $0.archive && $0.event == 2 })
            let latitudes = backlog.map(\.latitude)
            #expect(latitudes == latitudes.sorted())
            #expect(Set(positions.compactMap(\.alarm)) == ["sos", "tampering", "powerCut"])
            #expect(receiver.logins >= 1)
        }
    }

    @Test("the frames a press, a wire cut, a power cut and a backlog position become on the wire")
    func framesOnTheWire() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withAIS140Receiver { tracking in
            try await withAIS140Receiver { erss in
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id,
                    backends: [Self.ais140(tracking.url), Self.ais140(erss.url, emergencyOnly: true)], clock: clock,
                    wallClock: wall, seed: 11, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    // A position made three minutes before it can be sent is backlog.
                    try uplink.submit(
                        position(0, at: RecordTime(epochMilliseconds: wall().epochMilliseconds - 180_000)))
                    try uplink.submit(emergency(at: wall()))
                    try uplink.submit(tamper(at: wall()))
                    try uplink.submit(power(.lost, at: wall()))
                    try await drive(uplink, events: &events, clock: clock) {
                        try device.outbox.status().undelivered == 0
                    }
                }
                let frames = (tracking.frames + erss.frames).map(\.text)
                for frame in frames { print("FRAME", frame) }
                let positions = tracking.positions
                #expect(Set(positions.compactMap(\.alarm)) == ["sos", "tampering", "powerCut"])
                #expect(positions.contains { $0.archive && $0.alarm == nil })
                #expect(frames.contains { $0.hasPrefix("$,LGN,RJ14PB1234,490154203237518,") })
                #expect(frames.contains { $0.hasPrefix("$,EPB,EMR,490154203237518,NM,") })
            }
        }
    }

    @Test(
        "a server that misbehaves acknowledges nothing: the records stay pending, then arrive once it behaves",
        arguments: [
            (AIS140ReferenceReceiver.Behaviour.garbageLogin, "answered the login"),
            (.refuseLogin, "answered the login with \"$ERR*\""),
            (.forgeLogLine, #"answered the login with "$ERR\u{a}2026-12-07T00:00:00+0000 critical"#),
            (.oversizeAnswer, "longer than 256 bytes"),
            (.silentHeartbeat, "before answering the heartbeat"),
        ])
    func misbehavingServer(behaviour: AIS140ReferenceReceiver.Behaviour, reason: String) async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withAIS140Receiver(behaviour: behaviour) { receiver in
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, backends: [Self.ais140(receiver.url)], clock: clock,
                wallClock: wall, seed: 6, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                for index in 0..<5 { try uplink.submit(position(index, at: wall())) }
                let failed = try await nextFailure(&events)
                #expect(failed.contains(reason), "\(failed)")
                // Whatever the server said is quoted and escaped: it cannot start a line or move the cursor.
                #expect(!failed.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(failed)")
                #expect(try device.outbox.status().undelivered == 5)
                receiver.set(.standard)
                try await drive(uplink, events: &events, clock: clock) { try device.outbox.status().undelivered == 0 }
            }
            // The sequence numbers (frame numbers) tell a resend after a lost heartbeat answer apart.
            let frames = Set(
                receiver.frames.filter { $0.position != nil }.map {
                    $0.text.split(separator: ",", omittingEmptySubsequences: false)[48]
                })
            #expect(frames.count == 5)
        }
    }

    @Test("AIS-140 over TLS: a device pinning the server's CA delivers; one trusting only the system store does not")
    func ais140OverTLS() async throws {
        let directory = try TemporaryDirectory()
        let pki = try TestPKI(directory: directory.path)
        let receiver = try await AIS140ReferenceReceiver(tls: try pki.serverConfiguration())
        #expect(receiver.url.hasPrefix("tls://127.0.0.1:"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await receiver.run() }
            for (name, trust) in [("pinned", TrustRoots.caFile(pki.caFile)), ("system", .system)] {
                let device = try TestDevice(directory: directory.path + "/" + name)
                let clock = ManualClock()
                let wall = wallClock(for: clock)
                var backend = Self.ais140(receiver.url)
                backend.trust = trust
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id, backends: [backend], clock: clock, wallClock: wall,
                    seed: 12, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    try uplink.submit(emergency(at: wall()))
                    if name == "pinned" {
                        try await drive(uplink, events: &events, clock: clock) {
                            try device.outbox.status().undelivered == 0
                        }
                    } else {
                        let failed = try await nextFailure(&events)
                        #expect(!failed.isEmpty)
                        #expect(try device.outbox.status().undelivered == 1)
                    }
                }
            }
            #expect(receiver.positions.count == 1)
            #expect(receiver.positions.first?.alarm == "sos")
            group.cancelAll()
        }
    }

    @Test("with nothing to send, the box logs in and sends a heartbeat every interval; a failed one is retried")
    func heartbeats() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withAIS140Receiver { receiver in
            var backend = Self.ais140(receiver.url)
            backend.wire = .ais140(AIS140Options(identity: Self.identity, heartbeat: .seconds(60)))
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id, backends: [backend], clock: clock, wallClock: wall,
                seed: 13, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                let later = clock.now.advanced(by: .seconds(300))
                try await drive(uplink, events: &events, clock: clock) { clock.now >= later }
                receiver.set(.silentHeartbeat)
                let before = receiver.frames.count
                // The next heartbeat goes unanswered: login and heartbeat arrive, the connection closes.
                try await drive(uplink, events: &events, clock: clock) { receiver.frames.count >= before + 2 }
                receiver.set(.standard)
                let logins = receiver.logins
                try await drive(uplink, events: &events, clock: clock) { receiver.logins > logins }
            }
            let heartbeats = receiver.frames.filter { $0.text.hasPrefix("$,HBT,ACME,") }.count
            #expect((4...9).contains(heartbeats), "\(heartbeats)")
            #expect(receiver.positions.isEmpty)
        }
    }

    @Test("an emergency-only backend gets the emergency as EPB and nothing else")
    func emergencyOnly() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withAIS140Receiver { tracking in
            try await withAIS140Receiver { erss in
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id,
                    backends: [Self.ais140(tracking.url), Self.ais140(erss.url, emergencyOnly: true)], clock: clock,
                    wallClock: wall, seed: 7, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    for index in 0..<10 { try uplink.submit(position(index, at: wall())) }
                    try uplink.submit(emergency(at: wall()))
                    try await drive(uplink, events: &events, clock: clock) {
                        try device.outbox.status().undelivered == 0
                    }
                }
                #expect(tracking.positions.count == 11)
                let epb = erss.frames.filter { $0.text.hasPrefix("$,EPB,EMR,") }
                #expect(epb.count == 1)
                #expect(epb.first?.position?.alarm == "sos")
                #expect(erss.positions.count == 1)
            }
        }
    }

    @Test("OsmAnd: one request per record, alarms as Traccar names them, 200 is the acknowledgement")
    func osmAnd() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let receiver = OsmAndReceiver(knownID: "490154203237518")
        try await receiver.run { url in
            receiver.setFailing(true)
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id,
                backends: [
                    BackendConfiguration(
                        name: "traccar", url: url, batchSize: 10, requestTimeout: .seconds(60),
                        wire: .osmAnd(OsmAndOptions(deviceID: "490154203237518")))
                ], clock: clock, wallClock: wall, seed: 8, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                for index in 0..<20 { try uplink.submit(position(index, at: wall())) }
                try uplink.submit(emergency(at: wall()))
                try uplink.submit(tamper(at: wall()))
                try uplink.submit(power(.lost, at: wall()))
                try uplink.submit(power(.restored, at: wall()))
                let failed = try await nextFailure(&events)
                #expect(failed.contains("HTTP 500"), "\(failed)")
                #expect(try device.outbox.status().undelivered == 24)
                receiver.setFailing(false)
                try await drive(uplink, events: &events, clock: clock) { try device.outbox.status().undelivered == 0 }
            }
            let requests = receiver.requests
            #expect(requests.count == 24)
            #expect(requests.prefix(2).compactMap { $0["alarm"] }.count == 2)
            #expect(requests.compactMap { $0["alarm"] }.sorted() == ["powerCut", "powerRestored", "sos", "tampering"])
            let sequences = requests.filter { $0["alarm"] == nil }.compactMap { $0["seq"].flatMap { Int($0) } }
            #expect(sequences.count == 20 && Set(sequences).count == 20)
            let first = try #require(requests.first { $0["alarm"] == "sos" })
            #expect(first["lat"] == "28.613900" && first["lon"] == "77.209000" && first["valid"] == "true")
            #expect(first["timestamp"].flatMap { Int64($0) } != nil)
        }
    }

    @Test("OsmAnd: a device Traccar does not know (400) is never marked delivered")
    func osmAndUnknownDevice() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let receiver = OsmAndReceiver(knownID: "someone-else")
        try await receiver.run { url in
            let uplink = try Uplink(
                outbox: device.outbox, deviceID: device.id,
                backends: [
                    BackendConfiguration(
                        name: "traccar", url: url, requestTimeout: .seconds(60),
                        wire: .osmAnd(OsmAndOptions(deviceID: "490154203237518")))
                ], clock: clock, wallClock: wall, seed: 9, logger: quietLogger)
            var events = uplink.events.makeAsyncIterator()
            try await withUplink(uplink) {
                try uplink.submit(emergency(at: wall()))
                let failed = try await nextFailure(&events)
                #expect(failed.contains("HTTP 400"), "\(failed)")
                #expect(try device.outbox.status().undelivered == 1)
            }
        }
    }

    /// The next failure's reason.
    func nextFailure(
        _ events: inout AsyncStream<UplinkEvent>.Iterator, lane: DeliveryStateMachine.Lane? = nil
    ) async throws -> String {
        while let event = await events.next() {
            if case .failed(_, let failedLane, let reason) = event, lane == nil || lane == failedLane { return reason }
        }
        Issue.record("the uplink stopped without a failure")
        return ""
    }
}
