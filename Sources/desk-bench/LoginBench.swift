// desk-bench login: a box's record requests (POST /v1/records, one at a time) timed alone, then during a flood of
// wrong logins from 48 loopback addresses (127.0.0.2–49, each its own connections, bcrypt at the real cost 12),
// side by side. Prints figures; asserts nothing.
import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import NIOPosix
import PanicCore
import PanicSigning

/// Collects a connection's bytes until the server closes it.
final class ReadToClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let done: EventLoopPromise<ByteBuffer>
    private var received = ByteBuffer()
    init(done: EventLoopPromise<ByteBuffer>) { self.done = done }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
    }
    func channelInactive(context: ChannelHandlerContext) { done.succeed(received) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}

enum LoginBench {
    /// One wrong login from `source`, on a connection of its own; returns the HTTP status (0 when none came).
    /// The attackers' own event loop: an attacker runs on other machines, so its connections must not queue on the
    /// loops the server (and the box's client) run on, which in one process they would (NIO's singleton group).
    static let attackers = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    static func login(from source: String, port: Int, name: String, password: String) async throws -> Int {
        let group = attackers
        let done = group.next().makePromise(of: ByteBuffer.self)
        let body = #"{"name":"\#(name)","password":"\#(password)"}"#
        let channel = try await ClientBootstrap(group: group)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReadToClose(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(
            ByteBuffer(
                string: "POST /v1/session HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body))
        let answer = String(buffer: try await done.futureResult.get())
        return answer.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    }

    static func run(requests: Int) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = try ControlRoom(path: directory + "/cr.db", key: DeviceKey.generate(), logger: logger)
        let key = DeviceKey.generate()
        let device = key.identity.deviceID
        try await room.addDevice(id: device, publicKey: key.identity.jwk)
        try await room.addUser(
            name: "asha", role: .operator, password: "correct horse asha", cost: DeskPasswords.defaultCost)
        let desk = Desk(room: room)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = try ControlRoomServer.application(
            desk: desk, host: "127.0.0.1", port: 0, logger: logger, onRunning: { sink.yield($0) })
        say(
            "desk-bench login: \(requests) box requests (POST /v1/records, one record each, one at a time) alone, "
                + "then during wrong logins from 48 addresses (bcrypt cost \(DeskPasswords.defaultCost))")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            let base = "http://127.0.0.1:\(port)"
            let signer = RecordSigner(key: key)
            var previous: String?
            var sequence: Int64 = 0
            func record() async throws -> Duration {
                sequence += 1
                let draft = RecordDraft(
                    id: UUID().uuidString.lowercased(), time: RecordTime.systemNow(), timeSource: .system,
                    fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 900),
                    body: sequence % 10 == 1 ? .emergency(input: "panic-1") : .position)
                let sealed = try signer.seal(
                    Record(device: device, sequence: sequence, previousHash: previous, draft: draft))
                previous = sealed.hash
                var post = HTTPClientRequest(url: base + "/v1/records")
                post.method = .POST
                post.headers.add(name: "Content-Type", value: "application/json")
                post.body = .bytes(
                    ByteBuffer(
                        bytes: try JSONEncoder().encode(RecordBatch(device: device, envelopes: [sealed.envelope]))))
                let start = clock.now
                let response = try await HTTPClient.shared.execute(post, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .ok else { throw BenchError(description: "record: \(response.status)") }
                return start.duration(to: clock.now)
            }
            var alone: [Duration] = []
            for _ in 0..<requests { alone.append(try await record()) }
            let attacking = ManagedAtomicFlag()
            attacking.set()
            let flood = Task {
                try await withThrowingTaskGroup(of: [Int].self) { attackers in
                    for address in 2...49 {
                        attackers.addTask {
                            var statuses: [Int] = []
                            var attempt = 0
                            while attacking.isSet {
                                attempt += 1
                                // The operator's name and names that do not exist (each costs bcrypt time too).
                                statuses.append(
                                    try await login(
                                        from: "127.0.0.\(address)", port: port,
                                        name: attempt % 2 == 0 ? "asha" : "officer\(address)-\(attempt)",
                                        password: "guess \(address) \(attempt)"))
                            }
                            return statuses
                        }
                    }
                    var all: [Int] = []
                    for try await part in attackers { all += part }
                    return all
                }
            }
            var flooded: [Duration] = []
            for _ in 0..<requests { flooded.append(try await record()) }
            attacking.clear()
            let statuses = try await flood.value
            let counts = Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count).sorted { $0.key < $1.key }
            func figures(_ values: [Duration]) -> String {
                "p50 \(ms(percentile(values, 0.5))), p99 \(ms(percentile(values, 0.99))), max \(ms(values.max() ?? .zero))"
            }
            say("box request latency, alone:                  \(figures(alone))")
            say("box request latency, 48-address login flood: \(figures(flooded)) (goal: p99 ≤ 100 ms)")
            say(
                "the flood: \(statuses.count) logins, answers \(counts.map { "\($0.key)×\($0.value)" }.joined(separator: " ")), "
                    + "\(desk.hasher.checks) passwords checked")
            desk.signal.close()
            group.cancelAll()
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
}
