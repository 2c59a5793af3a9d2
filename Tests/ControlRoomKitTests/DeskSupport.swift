import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import PanicCore
import PanicSigning
import Testing

/// One simulated device's record stream: sequence numbers and the hash chain kept, so each new record links on.
final class DeskDevice: @unchecked Sendable {
    let key = DeviceKey.generate()
    var id: String { key.identity.deviceID }
    private var sequence: Int64 = 0
    private var previous: String?
    /// The last record's time (epoch ms); each record is 1 ms after the one before.
    var time: Int64

    /// A device whose first record is 1 ms after `time` (a server's `wall()` on virtual time).
    init(time: RecordTime = .systemNow()) { self.time = time.epochMilliseconds }

    /// Seals the next record (an emergency, a help call, a position...) at `latitude, longitude`.
    func next(
        _ body: RecordBody, latitude: Double = 28.61, longitude: Double = 77.2
    ) throws -> (
        envelope: String, id: String
    ) {
        sequence += 1
        time += 1
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: time), timeSource: .gnss,
            fix: RecordFix(latitude: latitude, longitude: longitude, ageMilliseconds: 900), body: body)
        let sealed = try RecordSigner(key: key).seal(
            Record(device: id, sequence: sequence, previousHash: previous, draft: draft))
        previous = sealed.hash
        return (sealed.envelope, draft.id)
    }
}

/// A control room with its desk on a loopback port, and an HTTP client to call it.
struct DeskServer: Sendable {
    let room: ControlRoom
    let desk: Desk
    let base: String
    /// The control room's wall clock (virtual when the server was started with a `VirtualTime`).
    var wall: @Sendable () -> RecordTime { room.wallClock }

    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    @discardableResult
    func call(
        _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Answer(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: bytes))
    }

    /// Opens the push channel as the page's EventSource does.
    func openEvents(cookie: String) async throws -> EventReader {
        var request = HTTPClientRequest(url: base + "/v1/desk/events")
        request.headers.add(name: "Cookie", value: cookie)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        return EventReader(iterator: response.body.makeAsyncIterator())
    }

    /// Sends records as the device's uplink does.
    func send(_ device: DeskDevice, _ envelopes: [String]) async throws {
        let batch = try JSONEncoder().encode(RecordBatch(device: device.id, envelopes: envelopes))
        let answer = try await call(
            "POST", "/v1/records", headers: ["Content-Type": "application/json"],
            body: String(decoding: batch, as: UTF8.self))
        #expect(answer.status == 200, "\(answer.body)")
    }

    /// A registered device with metadata.
    func register(_ device: DeskDevice, name: String, registration: String = "", responder: Bool = false) async throws {
        try await room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
        try await room.editDevice(
            id: device.id, DeviceMetadataEdit(name: name, registration: registration, responder: responder))
    }

    /// Logs in; returns the session cookie and the CSRF token.
    func login(_ name: String, _ password: String) async throws -> (cookie: String, csrf: String) {
        let answer = try await call(
            "POST", "/v1/session", headers: ["Content-Type": "application/json"],
            body: #"{"name":"\#(name)","password":"\#(password)"}"#)
        #expect(answer.status == 200, "\(answer.body)")
        let cookie = try #require(answer.header("Set-Cookie")).split(separator: ";")[0]
        let info = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        return (String(cookie), try #require(info?["csrf"] as? String))
    }

    /// Headers of a same-origin JSON change from the page.
    static func change(_ session: (cookie: String, csrf: String)) -> [String: String] {
        ["Cookie": session.cookie, "X-CSRF-Token": session.csrf, "Content-Type": "application/json"]
    }

    /// Runs `body` with a fresh control room (on a fresh store of `store`) and desk listening on loopback; with
    /// `time`, the control room's wall clock is the test's virtual one.
    static func with(
        _ configuration: DeskConfiguration = DeskConfiguration(heartbeat: .seconds(1)), store: StoreKind = .sqlite,
        updates: UpdatePackages? = nil, time: VirtualTime? = nil, _ body: (DeskServer) async throws -> Void
    ) async throws {
        try await Fixture.with(store, register: false, wallClock: time?.wall ?? RecordTime.systemNow) { fixture in
            try await serving(Desk(room: fixture.room, configuration: configuration), updates: updates, body)
        }
    }

    /// Runs `body` with `desk` (and its control room) listening on loopback.
    static func serving(
        _ desk: Desk, updates: UpdatePackages? = nil, _ body: (DeskServer) async throws -> Void
    ) async throws {
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = try ControlRoomServer.application(
            desk: desk, host: "127.0.0.1", port: 0, updates: updates, logger: StoreKind.quiet,
            onRunning: { sink.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let server = DeskServer(room: desk.room, desk: desk, base: "http://127.0.0.1:\(port)")
            do { try await body(server) } catch {
                desk.signal.close()
                group.cancelAll()
                throw error
            }
            desk.signal.close()
            group.cancelAll()
        }
    }
}

/// A test's virtual time: a manual monotonic clock and the wall clock that moves with it, in whole milliseconds
/// from the real time the test began (so the batches a test signs are fresh). A service given `clock` over a
/// control room given `wall` (`DeskServer.with(time:)`) meets its deadline when the test advances the clock to
/// it, however slowly the machine runs — never after real time has passed.
struct VirtualTime: Sendable {
    let clock = ManualClock()
    let startMs = RecordTime.systemNow().epochMilliseconds

    var wall: @Sendable () -> RecordTime {
        { [clock, startMs] in RecordTime(epochMilliseconds: startMs + clock.now.sinceOrigin.milliseconds) }
    }

    /// Moves both clocks on until the wall clock reads `epochMs` (never back), waking every sleeper due by then.
    func advance(toWall epochMs: Int64) {
        clock.advance(to: MonotonicInstant(sinceOrigin: .milliseconds(epochMs - startMs)))
    }
}

/// Reads Server-Sent Events: each event's data line, heartbeats skipped.
struct EventReader {
    var iterator: HTTPClientResponse.Body.AsyncIterator
    var buffer = ""

    mutating func nextEvent() async throws -> String? {
        while true {
            if let range = buffer.range(of: "\n\n") {
                let block = String(buffer[..<range.lowerBound])
                buffer = String(buffer[range.upperBound...])
                if let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }) {
                    return String(data.dropFirst(6))
                }
                continue
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer += String(buffer: chunk)
        }
    }
}
