import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PanicCore
import PanicSigning
import Synchronization
import Testing

/// Counts the lines logged at warning or above (what reaches the disk in production).
final class CountingLogHandler: LogHandler, Sendable {
    let lines = Mutex(0)
    var metadata: Logger.Metadata {
        get { [:] }
        set {}  // swift-format-ignore
    }
    var logLevel: Logger.Level {
        get { .warning }
        set {}  // swift-format-ignore
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}  // swift-format-ignore
    }
    func log(event: LogEvent) { lines.withLock { $0 += 1 } }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// A control room served on a free loopback port while `body` runs: the device endpoint alone, or (`desk`) the
/// whole application `controlroom serve` runs, with its desk.
func serving<T: Sendable>(
    _ room: ControlRoom, timeouts: ServerTimeouts = ServerTimeouts(), desk: Bool = false,
    updates: UpdatePackages? = nil, _ body: (String) async throws -> T
) async throws -> T {
    var quiet = Logger(label: "test")
    quiet.logLevel = .critical
    let (ports, sink) = AsyncStream<Int>.makeStream()
    let app: any ApplicationProtocol =
        desk
        ? try ControlRoomServer.application(
            desk: Desk(room: room), host: "127.0.0.1", port: 0, timeouts: timeouts, updates: updates, logger: quiet,
            onRunning: { sink.yield($0) })
        : ControlRoomServer.application(
            controlRoom: room, host: "127.0.0.1", port: 0, timeouts: timeouts, updates: updates,
            installDesk: Desk(room: room).installer(updates: updates), logger: quiet, onRunning: { sink.yield($0) })
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let result = try await body("http://127.0.0.1:\(port)")
        group.cancelAll()
        return result
    }
}

func post(_ body: Data, to url: String) async throws -> (status: UInt, text: String) {
    var request = HTTPClientRequest(url: url + "/v1/records")
    request.method = .POST
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    let bytes = try await response.body.collect(upTo: 4 << 20)
    return (response.status.code, String(buffer: bytes))
}

@Suite("The registry is live: add and remove take effect on a running server", .timeLimit(.minutes(2)))
struct LiveRegistryTests {
    @Test("a device added by another connection is trusted at once; removed, its signed records are refused")
    func addAndRemoveWhileServing() async throws {
        let fixture = try await Fixture(register: false)
        let records = try fixture.chain(2, alertAt: [1])
        // Another process's view of the same database (what `controlroom devices add/remove` opens).
        let other = try ControlRoom(path: fixture.directory + "/cr.db", key: nil, logger: Logger(label: "cli"))
        try await serving(fixture.room) { url in
            func send(_ envelope: String) async throws -> RecordBatchResponse {
                let batch = try fixture.signed(RecordBatch(device: fixture.deviceID, envelopes: [envelope]))
                let answer = try await post(try JSONEncoder().encode(batch), to: url)
                return try JSONDecoder().decode(RecordBatchResponse.self, from: Data(answer.text.utf8))
            }
            #expect(try await send(records[0].envelope).results.map(\.reason) == [.unknownDevice])
            try await other.addDevice(id: fixture.deviceID, publicKey: fixture.deviceKey.identity.jwk)
            let added = ContinuousClock.now
            let accepted = try await send(records[0].envelope)
            let took = ContinuousClock.now - added
            #expect(accepted.results.map(\.status) == [.accepted])
            #expect(accepted.authentication?.verified == true)
            // The first request after the add is accepted: the change took effect at once, not after a reload
            // period. `took` is one HTTP round trip on a loaded machine.
            print("live registry: added device trusted after \(took)")
            try await other.removeDevice(id: fixture.deviceID)
            let revoked = try await send(records[1].envelope)
            #expect(revoked.results.map(\.reason) == [.unknownDevice])
            #expect(revoked.authentication?.refusal == .unknownDevice)
            #expect(try await fixture.room.recordCount() == 1)
        }
    }
}

/// The two timing suites, one after the other: 300 slow connections would otherwise disturb the latency figure.
@Suite("Hostile clients", .serialized, .timeLimit(.minutes(4)))
struct HostileClientTests {}

extension HostileClientTests {
    @Suite("One hostile client cannot stall the operator or fill the disk", .timeLimit(.minutes(3)))
    struct BoundedIntakeTests {
        /// Envelopes under the device's own kid with signatures that do not verify: each costs a verification.
        static func badlySigned(_ fixture: Fixture, bytes: Int) throws -> [String] {
            let genuine = try fixture.chain(1)[0].envelope
            let parts = genuine.split(separator: ".").map(String.init)
            let forged = parts[0] + "." + parts[1] + "." + Base64URL.encode(Data(repeating: 7, count: 64))
            return Array(repeating: forged, count: bytes / (forged.utf8.count + 3) + 1)
        }

        @Test(
            "a 14 MiB and a 3.9 MiB batch of badly signed envelopes: the operator keeps being answered, batches refused"
        )
        func hostileBatchWhileOperatorPolls() async throws {
            let counter = CountingLogHandler()
            let fixture = try await Fixture()
            let room = try ControlRoom(
                path: fixture.directory + "/cr.db", key: fixture.roomKey, logger: Logger(label: "cr") { _ in counter })
            // The operator polls as the desk's automation does, with an API token (the page needs a session).
            let token = try #require(
                try await room.addUser(
                    name: "night-desk", role: .operator, password: "a long night shift at the desk", token: true,
                    cost: 4))
            _ = try await room.receive(
                try fixture.signed(
                    RecordBatch(
                        device: fixture.deviceID, envelopes: try fixture.chain(1, alertAt: [1]).map(\.envelope))))
            let huge = try JSONEncoder().encode(
                RecordBatch(device: fixture.deviceID, envelopes: try Self.badlySigned(fixture, bytes: 14 << 20)))
            let large = try JSONEncoder().encode(
                RecordBatch(device: fixture.deviceID, envelopes: try Self.badlySigned(fixture, bytes: 3_900_000)))
            #expect(huge.count > 14 << 20)
            try await serving(room) { url in
                let done = Flag()
                let hostile = Task {
                    defer { done.set() }
                    var answers: [(UInt, String)] = []
                    for _ in 0..<5 {
                        answers.append(try await post(huge, to: url))
                        answers.append(try await post(large, to: url))
                    }
                    return answers
                }
                var worst: Duration = .zero
                var polls = 0
                while !done.isSet {
                    let start = ContinuousClock.now
                    var poll = HTTPClientRequest(url: url + "/v1/alerts")
                    poll.headers.add(name: "Authorization", value: "Bearer " + token)
                    let response = try await HTTPClient.shared.execute(poll, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    worst = max(worst, ContinuousClock.now - start)
                    polls += 1
                    #expect(response.status == .ok)
                }
                let answers = try await hostile.value
                print(
                    "bounded intake: \(polls) operator polls, worst \(worst), during \(answers.count) hostile batches")
                // Timing goals live in `make bench-desk` (the same attack beside calm polls); here: every poll answered, and
                // answered while the attack went on (none waited for the end of the batches).
                #expect(
                    polls >= answers.count,
                    "only \(polls) operator polls answered during \(answers.count) hostile batches")
                for (status, text) in answers {
                    #expect(status == 413 || status == 422)
                    #expect(text.contains("batch refused"))
                }
            }
            let lines = counter.lines.withLock { $0 }
            print("bounded intake: \(lines) log lines for 10 hostile batches")
            #expect(lines <= 10)
            #expect(try await room.recordCount() == 1)
        }
    }

}

/// Opens a raw TCP connection, sends `bytes`, and reports how long the server took to close it.
final class SlowClient: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let closed: EventLoopPromise<Void>
    init(closed: EventLoopPromise<Void>) { self.closed = closed }
    func channelInactive(context: ChannelHandlerContext) { closed.succeed() }
}

extension HostileClientTests {
    @Suite("The server closes slow connections", .timeLimit(.minutes(2)))
    struct ServerTimeoutTests {
        @Test(
            "300 connections sending nothing, half a header or half a body are closed within their timeouts",
            arguments: [false, true])
        func slowConnectionsClosed(desk: Bool) async throws {
            let fixture = try await Fixture()
            let timeouts = ServerTimeouts(header: .seconds(1), idle: .seconds(1), body: .milliseconds(1_500))
            try await serving(fixture.room, timeouts: timeouts, desk: desk) { url in
                let port = try #require(Int(url.split(separator: ":").last ?? ""))
                let group = MultiThreadedEventLoopGroup.singleton
                let kinds: [(name: String, bytes: String, limit: Duration)] = [
                    ("silent", "", timeouts.header),
                    ("partial header", "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-", timeouts.header),
                    (
                        "partial body",
                        "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"device\":",
                        timeouts.body
                    ),
                ]
                var waits: [(kind: Int, opened: ContinuousClock.Instant, closed: EventLoopFuture<Void>)] = []
                for index in 0..<300 {
                    let kind = index % kinds.count
                    let promise = group.next().makePromise(of: Void.self)
                    let opened = ContinuousClock.now
                    let channel = try await ClientBootstrap(group: group)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(SlowClient(closed: promise))
                            }
                        }
                        .connect(host: "127.0.0.1", port: port).get()
                    if !kinds[kind].bytes.isEmpty {
                        channel.writeAndFlush(ByteBuffer(string: kinds[kind].bytes), promise: nil)
                    }
                    waits.append((kind, opened, promise.futureResult))
                }
                var latest = [Duration](repeating: .zero, count: kinds.count)
                for wait in waits {
                    try await wait.closed.get()
                    // Measured from its own connect: after the wait above, the close time is known to within a poll.
                    latest[wait.kind] = max(latest[wait.kind], ContinuousClock.now - wait.opened)
                }
                for (index, kind) in kinds.enumerated() {
                    print(
                        "server timeouts (\(desk ? "with the desk" : "device endpoint")): 100 \(kind.name) connections, slowest closed \(latest[index]) after connecting (limit \(kind.limit))"
                    )
                    #expect(latest[index] >= kind.limit - .milliseconds(200))
                    // Generous: opening 300 connections on a busy two-core machine takes a while.
                    #expect(latest[index] < kind.limit + .seconds(5))
                }
            }
        }
    }
}
