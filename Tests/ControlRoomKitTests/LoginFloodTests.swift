import AsyncHTTPClient
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
            "48 addresses flooding wrong logins (bcrypt cost 12) while a box posts records: every record is answered within the box's own timeout",
            arguments: StoreKind.all)
        func floodWhileBoxPosts(_ store: StoreKind) async throws {
            try await DeskServer.with(store: store) { server in
                // The real cost: what makes each wrong login expensive.
                try await server.room.addUser(
                    name: "asha", role: .operator, password: "correct horse asha", cost: DeskPasswords.defaultCost)
                let device = DeskDevice()
                try await server.register(device, name: "Bus 534")
                let port = try Self.port(server)
                let boxDone = Flag()
                let flood = Task {
                    try await withThrowingTaskGroup(of: [Int].self) { group in
                        for address in 2...49 {
                            group.addTask {
                                var statuses: [Int] = []
                                // Until the box is done (and at least 4 each), as an attacker keeps going.
                                var attempt = 0
                                while attempt < 4 || !boxDone.isSet && attempt < 100 {
                                    attempt += 1
                                    statuses.append(
                                        try await login(
                                            from: "127.0.0.\(address)", port: port, name: "asha",
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
                // The box posts its records one after the other during the flood, with its uplink's timeout.
                var answered = 0
                for index in 0..<20 {
                    let body = index % 5 == 0 ? RecordBody.emergency(input: "panic-1") : .position
                    let batch = try JSONEncoder().encode(
                        RecordBatch(device: device.id, envelopes: [try device.next(body).envelope]))
                    var request = HTTPClientRequest(url: server.base + "/v1/records")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: batch))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    #expect(response.status == .ok, "record \(index): \(text)")
                    let answer = try JSONDecoder().decode(RecordBatchResponse.self, from: Data(text.utf8))
                    #expect(answer.results.map(\.status) == [.accepted])
                    answered += 1
                }
                boxDone.set()
                let statuses = try await flood.value
                let counts = Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count)
                print(
                    "login flood (\(store)): \(answered) box records answered during \(statuses.count) logins from 48 addresses, answers \(counts.sorted { $0.key < $1.key }), \(server.desk.hasher.checks) passwords checked"
                )
                #expect(answered == 20)
                #expect(statuses.allSatisfy { [401, 429, 503].contains($0) }, "\(counts)")
                #expect(try await server.room.recordCount() == 20)
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
