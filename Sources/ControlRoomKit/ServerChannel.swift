import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// Runs an event loop's jobs as a Swift task executor: a task preferring it runs on the loop's thread.
public final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    public let loop: any EventLoop

    public init(loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A connection whose requests are handled on the connection's own event loop. Hummingbird starts each
/// connection's task on Swift's global executor: every request then hops from the loop that read it to a pool
/// thread and back to write the answer (a few microseconds each way, and a thread woken each time — a third of the
/// CPU of a small request, measured with `make bench-controlroom`). Here the task prefers the loop itself, so a
/// small request is read, handled and answered on one thread; the connections spread over the loops as NIO accepts
/// them. Blocking and long work stays off the loops: the database's transactions run on NIO's thread pool, and a
/// big body is decoded there (`ControlRoomServer.inlineDecodeBytes`).
struct LoopBoundChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(loop: value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension ControlRoomServer {
    /// The one HTTP server set-up of the control room (the device endpoint, the desk and its API): HTTP/1.1, with
    /// `timeouts` for slow clients, each connection handled on its own event loop.
    package static func server(timeouts: ServerTimeouts) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            LoopBoundChannel(
                base: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [ConnectionDeadlineHandler(timeouts: timeouts)])))
        }
    }

    /// `server(timeouts:)` over TLS.
    package static func server(timeouts: ServerTimeouts, tls: TLSConfiguration) throws -> HTTPServerBuilder {
        try .tls(server(timeouts: timeouts), tlsConfiguration: tls)
    }
}
