import NIOCore
import NIOHTTP1
import NIOPosix

/// The bench's load generator: keep-alive HTTP/1.1 connections on NIO, each sending its requests one after the
/// other (the next when the answer has ended), with request heads built once. Much less work per request than a
/// general client (`AsyncHTTPClient` keeps a connection pool, a state machine per request and a task per call), so
/// on one machine more of the cores go to the server being measured; the bench prints both.
enum LoadClient {
    /// Posts each body on one of `connections` connections to `host:port` `path`; returns every latency.
    static func post(
        _ bodies: [ByteBuffer], host: String, port: Int, path: String, connections: Int
    ) async throws -> [Duration] {
        let group = MultiThreadedEventLoopGroup.singleton
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        let template = head
        return try await withThrowingTaskGroup(of: [Duration].self) { tasks in
            for index in 0..<connections {
                let mine = Array(stride(from: index, to: bodies.count, by: connections).map { bodies[$0] })
                if mine.isEmpty { continue }
                tasks.addTask {
                    let done = group.next().makePromise(of: [Duration].self)
                    let channel = try await ClientBootstrap(group: group)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                                try channel.pipeline.syncOperations.addHandler(
                                    Sender(bodies: mine, head: template, done: done))
                            }
                        }
                        .connect(host: host, port: port).get()
                    do {
                        let latencies = try await done.futureResult.get()
                        try? await channel.close()
                        return latencies
                    } catch {
                        try? await channel.close()
                        throw error
                    }
                }
            }
            var all: [Duration] = []
            for try await part in tasks { all += part }
            return all
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends the next body when the answer to the last one has ended; fails on any status but 200 or a close.
    final class Sender: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        private let bodies: [ByteBuffer]
        private let head: HTTPRequestHead
        private let done: EventLoopPromise<[Duration]>
        private var next = 0
        private var started = ContinuousClock.now
        private var latencies: [Duration] = []
        private var status: HTTPResponseStatus = .ok
        private var finished = false

        init(bodies: [ByteBuffer], head: HTTPRequestHead, done: EventLoopPromise<[Duration]>) {
            self.bodies = bodies
            self.head = head
            self.done = done
            latencies.reserveCapacity(bodies.count)
        }

        func channelActive(context: ChannelHandlerContext) {
            send(context: context)
            context.fireChannelActive()
        }

        private func send(context: ChannelHandlerContext) {
            let body = bodies[next]
            next += 1
            var head = head
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
            started = ContinuousClock.now
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let response): status = response.status
            case .body: break
            case .end:
                latencies.append(started.duration(to: .now))
                guard status == .ok else { return finish(.failure(Refused(description: "HTTP \(status.code)"))) }
                if next < bodies.count { send(context: context) } else { finish(.success(latencies)) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(Refused(description: "the server closed the connection after \(latencies.count) answers")))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(error))
            context.close(promise: nil)
        }

        private func finish(_ result: Result<[Duration], any Error>) {
            guard !finished else { return }
            finished = true
            done.completeWith(result)
        }
    }
}
