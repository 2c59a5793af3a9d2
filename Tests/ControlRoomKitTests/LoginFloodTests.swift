import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import NIOPosix
import PanicCore
import Testing

/// Collects every byte a connection receives until the server closes it.
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

/// A login sent from `source`, a loopback address of its own (the whole of 127.0.0.0/8 is loopback on Linux), as
/// one HTTP/1.1 request on its own connection: what an attacker with many addresses does. Returns the status.
func login(from source: String, port: Int, name: String, password: String) async throws -> Int {
    let group = MultiThreadedEventLoopGroup.singleton
    let done = group.next().makePromise(of: ByteBuffer.self)
    let body = try String(
        decoding: JSONSerialization.data(withJSONObject: ["name": name, "password": password]), as: UTF8.self)
    let channel = try await ClientBootstrap(group: group)
        .bind(to: try SocketAddress(ipAddress: source, port: 0))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ReadToClose(done: done))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let request =
        "POST /v1/session HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        + body
    try await channel.writeAndFlush(ByteBuffer(string: request))
    let answer = String(buffer: try await done.futureResult.get())
    // "HTTP/1.1 401 Unauthorized"
    guard let status = answer.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
        throw TestStoreError(description: "no HTTP status in the answer to a login: \(answer.prefix(80))")
    }
    return status
}

extension HostileClientTests {
    @Suite("A login flood cannot stall intake; guesses are bounded; nobody is locked out", .timeLimit(.minutes(4)))
    struct LoginFloodTests {
        /// The port of a server's base URL.
        static func port(_ server: DeskServer) throws -> Int {
            try #require(Int(server.base.split(separator: ":").last ?? ""))
        }

        @Test(
            "48 addresses flooding wrong logins (bcrypt cost 12) while a box posts records: every record is answered within the box's own timeout, at most 8 password checks queued at once",
            arguments: StoreKind.all)
        func floodWhileBoxPosts(_ store: StoreKind) async throws {
            try await DeskServer.with(store: store) { server in
                // The real cost: what makes each wrong login expensive.
                try await server.room.addUser(
                    name: "asha", role: .operator, password: "correct horse asha", cost: DeskPasswords.defaultCost)
                let device = DeskDevice()
                try await server.register(device, name: "Bus 534")
                let port = try Self.port(server)
                let floodDone = Flag()
                // 6 wrong logins from each address, all at once, as an attacker starts.
                let flood = Task {
                    defer { floodDone.set() }
                    return try await withThrowingTaskGroup(of: [Int].self) { group in
                        for address in 2...49 {
                            group.addTask {
                                var statuses: [Int] = []
                                for attempt in 0..<6 {
                                    // The operator's name and names that do not exist (each costs a check
                                    // too: the same bcrypt time, so timing does not tell which names exist).
                                    statuses.append(
                                        try await login(
                                            from: "127.0.0.\(address)", port: port,
                                            name: attempt % 2 == 0 ? "asha" : "officer\(address)-\(attempt)",
                                            password: "wrong guess \(address) \(attempt)"))
                                }
                                return statuses
                            }
                        }
                        var all: [Int] = []
                        for try await statuses in group { all += statuses }
                        return all
                    }
                }
                // The box posts its records one after the other while the flood lasts (20 at least, 100 at most),
                // with its uplink's timeout.
                var answered = 0
                while answered < 20 || !floodDone.isSet && answered < 100 {
                    let body = answered % 5 == 0 ? RecordBody.emergency(input: "panic-1") : .position
                    let batch = try JSONEncoder().encode(
                        RecordBatch(device: device.id, envelopes: [try device.next(body).envelope]))
                    var request = HTTPClientRequest(url: server.base + "/v1/records")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: batch))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    #expect(response.status == .ok, "record \(answered): \(text)")
                    let answer = try JSONDecoder().decode(RecordBatchResponse.self, from: Data(text.utf8))
                    #expect(answer.results.map(\.status) == [.accepted])
                    answered += 1
                }
                let statuses = try await flood.value
                let counts = Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count)
                print(
                    "login flood (\(store)): \(answered) box records answered during \(statuses.count) logins from 48 addresses, answers \(counts.sorted { $0.key < $1.key }), \(server.desk.hasher.checks) passwords checked, at most \(server.desk.hasher.peakWaiting) at once"
                )
                #expect(statuses.count == 48 * 6)
                // Never more than the budget's logins queued or hashing at once (before: all 48 on the executor
                // every request handler runs on).
                #expect(server.desk.hasher.peakWaiting <= LoginBudget.Limits().inFlight)
                #expect(statuses.allSatisfy { [401, 429, 503].contains($0) }, "\(counts)")
                #expect(try await server.room.recordCount() == answered)
            }
        }

        @Test(
            "30 simultaneous guesses for one account from one address: at most 5 passwords checked, the right one then refused there; the victim still logs in from another address",
            arguments: StoreKind.all)
        func concurrentGuesses(_ store: StoreKind) async throws {
            try await DeskServer.with(store: store) { server in
                try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
                let port = try Self.port(server)
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for guess in 0..<30 {
                        group.addTask {
                            try await login(
                                from: "127.0.0.66", port: port, name: "asha", password: "guess number \(guess)!")
                        }
                    }
                    var all: [Int] = []
                    for try await status in group { all.append(status) }
                    return all
                }
                let checks = server.desk.hasher.checks
                print("30 simultaneous guesses (\(store)): \(checks) passwords checked, answers \(statuses.sorted())")
                #expect(checks <= 5)
                #expect(statuses.filter { $0 == 401 }.count <= 5)
                #expect(statuses.allSatisfy { $0 == 401 || $0 == 429 })
                // The attacker's address has used its budget: even the right password is not checked from it.
                let right = try await login(
                    from: "127.0.0.66", port: port, name: "asha", password: "correct horse asha")
                #expect(right == 429)
                #expect(server.desk.hasher.checks == checks)
                // The account is not locked: its owner, at another desk, logs in.
                let victim = try await login(
                    from: "127.0.0.77", port: port, name: "asha", password: "correct horse asha")
                #expect(victim == 200)
                let audit = try await server.room.audit()
                #expect(audit.filter { $0.action == .loginFailed }.count == checks)
                #expect(audit.contains { $0.action == .loginThrottled })
                #expect(audit.contains { $0.action == .login && $0.user == "asha" })
            }
        }
    }
}
