import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PanicCore
import Synchronization

/// What the chaos proxy does to one request on its way between a box and a control room.
public enum ChaosFault: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Forwarded; the answer goes back unchanged.
    case pass
    /// Not forwarded; answered `500`.
    case serverError = "500"
    /// Not forwarded; the connection is reset (RST) without an answer.
    case reset
    /// Forwarded (so stored); the answer is held past the box's timeout before it is sent.
    case delay
    /// Forwarded (so stored); the connection is then reset and the answer is lost.
    case drop

    public var description: String { rawValue }
}

/// Which fault the next request gets: seeded, so a failing run is repeated with its seed. Pure.
public struct ChaosSchedule: Sendable {
    /// The faults drawn from (every one equally likely when a request is faulted).
    public var faults: [ChaosFault]
    /// The share of requests that get a fault, 0…1.
    public var rate: Double
    /// Requests left to fault; after that everything passes (nil: for ever).
    public var remaining: Int?
    private var random: SplitMix64

    public init(faults: [ChaosFault], rate: Double, budget: Int? = nil, seed: UInt64) {
        self.faults = faults.filter { $0 != .pass }
        self.rate = min(max(rate, 0), 1)
        remaining = budget
        random = SplitMix64(seed: seed)
    }

    /// The fault for the next request.
    public mutating func next() -> ChaosFault {
        let roll = Double(random.next() % 1_000_000) / 1_000_000
        guard !faults.isEmpty, remaining.map({ $0 > 0 }) ?? true, roll < rate else { return .pass }
        remaining = remaining.map { $0 - 1 }
        return faults[Int(random.next() % UInt64(faults.count))]
    }
}

/// Why the chaos proxy could not start.
public struct ChaosProxyError: Error, CustomStringConvertible {
    public var description: String
}

/// A loopback HTTP proxy between a box and its control room that fails requests the way a bad network and a
/// struggling server do (`ChaosFault`): 500s, resets before the store, answers lost after the store, answers held
/// past the box's timeout. Each request is reported through `report` once its fate is known, so a test can act
/// on events (kill a process after the n-th stored batch) instead of on time. `panicd chaos-proxy` runs it.
public final class ChaosProxy: Sendable {
    /// One request's fate, as reported.
    public struct Event: Sendable, CustomStringConvertible {
        public var number: Int
        public var fault: ChaosFault
        /// The control room's status code, nil when the request was not forwarded or the control room was down.
        public var upstreamStatus: Int?

        public var description: String {
            "request \(number) \(fault): upstream \(upstreamStatus.map(String.init) ?? "none")"
        }
    }

    let host: String
    let port: Int
    let upstream: String
    let delay: Duration
    let schedule: Mutex<ChaosSchedule>
    let counter = Atomic<Int>(0)

    /// A proxy listening on `host:port` (0: any free port) forwarding to `upstream` (`http://host:port`), holding
    /// delayed answers for `delay`.
    public init(host: String, port: Int, upstream: String, schedule: ChaosSchedule, delay: Duration) {
        self.host = host
        self.port = port
        self.upstream = upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream
        self.schedule = Mutex(schedule)
        self.delay = delay
    }

    /// Serves until cancelled; `onListening` gets the bound port once, `report` every request's fate.
    public func run(
        onListening: @Sendable (Int) -> Void, report: @escaping @Sendable (Event) -> Void
    ) async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ChaosProxyError(description: "cannot listen on \(host):\(port): \(error)")
        }
        onListening(server.channel.localAddress?.port ?? port)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection, client: client, report: report) }
                    }
                }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, client: HTTPClient,
        report: @Sendable (Event) -> Void
    ) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk): body.writeBuffer(&chunk)
                case .end:
                    guard let head else { return }
                    let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
                    let fault = schedule.withLock { $0.next() }
                    var answer: (status: HTTPResponseStatus, type: String?, body: ByteBuffer)?
                    if fault == .pass || fault == .delay || fault == .drop {
                        answer = await forward(head, body: body, client: client)
                    }
                    report(Event(number: number, fault: fault, upstreamStatus: answer.map { Int($0.status.code) }))
                    switch fault {
                    case .reset, .drop:
                        await Self.reset(connection.channel)
                        return
                    case .serverError:
                        answer = (.internalServerError, "application/json", ByteBuffer(string: #"{"error":"chaos"}"#))
                    case .delay:
                        try await Task.sleep(for: delay)  // the fault itself: an answer later than the box waits
                    case .pass: break
                    }
                    let reply = answer ?? (.badGateway, "application/json", ByteBuffer(string: #"{"error":"down"}"#))
                    var headers = HTTPHeaders()
                    if let type = reply.type { headers.add(name: "Content-Type", value: type) }
                    headers.add(name: "Content-Length", value: "\(reply.body.readableBytes)")
                    try await outbound.write(
                        .head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(reply.body)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    /// Sends the request on to the control room; nil when it cannot be reached.
    private func forward(
        _ head: HTTPRequestHead, body: ByteBuffer, client: HTTPClient
    ) async -> (status: HTTPResponseStatus, type: String?, body: ByteBuffer)? {
        var request = HTTPClientRequest(url: upstream + head.uri)
        request.method = head.method
        for (name, value) in head.headers where !["host", "connection", "content-length"].contains(name.lowercased()) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return (response.status, response.headers.first(name: "Content-Type"), bytes)
        } catch {
            return nil
        }
    }

    /// Closes with an RST (SO_LINGER 0), as a dropped mobile link or a crashed middlebox does.
    private static func reset(_ channel: any Channel) async {
        if let socket = channel as? any SocketOptionProvider {
            try? await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }
}
