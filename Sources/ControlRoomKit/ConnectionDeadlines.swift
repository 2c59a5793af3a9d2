import NIOCore
import NIOHTTPTypes
import PanicCore

/// How long the control room's server waits for a client before it closes the connection. A slow or silent
/// client (a slowloris, a dead link) holds a connection at most this long; a device's own request deadline is
/// 10 s, so it never comes near.
public struct ServerTimeouts: Sendable, Hashable {
    /// A new connection's first request head must be complete within this of the connection opening.
    public var header: Duration
    /// A kept-alive connection's next request head must be complete within this of the last response.
    public var idle: Duration
    /// A request's body must be complete within this of its head.
    public var body: Duration

    public init(header: Duration = .seconds(10), idle: Duration = .seconds(30), body: Duration = .seconds(30)) {
        self.header = header
        self.idle = idle
        self.body = body
    }
}

/// Which deadline a connection is under, as a pure state machine (in the style of Hummingbird's connection state
/// machines): events in, the deadline out; `ConnectionDeadlineHandler` is its I/O shell.
struct ConnectionDeadlines: Sendable {
    /// Where the connection stands.
    enum Phase: Sendable, Equatable {
        /// Waiting for a request head: the first one (`header` timeout) or the next one (`idle`).
        case awaitingHead(first: Bool)
        /// Between a head and the end of its body (`body` timeout).
        case readingBody
        /// The request is complete and the server is working on it: no deadline (the server is the slow one).
        case responding
        /// A deadline passed; the connection is to be closed.
        case expired
    }

    let timeouts: ServerTimeouts
    private(set) var phase: Phase = .awaitingHead(first: true)
    /// When the connection is to be closed unless the next event comes first.
    private(set) var deadline: NIODeadline?

    init(timeouts: ServerTimeouts, opened now: NIODeadline) {
        self.timeouts = timeouts
        deadline = now + TimeAmount(timeouts.header)
    }

    mutating func headReceived(now: NIODeadline) {
        phase = .readingBody
        deadline = now + TimeAmount(timeouts.body)
    }

    mutating func endReceived() {
        phase = .responding
        deadline = nil
    }

    mutating func responseEnded(now: NIODeadline) {
        // A response written before the body was read (an early 413) leaves the rest of the body to the decoder.
        phase = .awaitingHead(first: false)
        deadline = now + TimeAmount(timeouts.idle)
    }

    /// The timer for `deadline` fired at `now`: whether to close the connection.
    mutating func timerFired(now: NIODeadline) -> Bool {
        guard let deadline, now >= deadline else { return false }
        phase = .expired
        self.deadline = nil
        return true
    }
}

/// Closes a connection whose client is too slow (`ServerTimeouts`): after the HTTP decoder, it follows request
/// and response parts through `ConnectionDeadlines` and keeps one timer on the event loop for its deadline.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeouts: ServerTimeouts
    private var machine: ConnectionDeadlines?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(timeouts: ServerTimeouts) { self.timeouts = timeouts }

    func handlerAdded(context: ChannelHandlerContext) {
        machine = ConnectionDeadlines(timeouts: timeouts, opened: .now())
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: machine?.headReceived(now: .now())
        case .body: break
        case .end: machine?.endReceived()
        }
        schedule(context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            machine?.responseEnded(now: .now())
            schedule(context)
        }
        context.write(data, promise: promise)
    }

    /// Keeps one timer, due no later than the machine's current deadline. A timer already due earlier is kept (when
    /// it fires before the deadline, the machine says so and the timer is set again for the deadline then): a
    /// request then moves the deadline without touching the loop's timer heap, where cancelling and scheduling
    /// for each request part cost 3 % of a small request's CPU.
    private func schedule(_ context: ChannelHandlerContext) {
        let deadline = machine?.deadline
        if let timerDeadline, deadline.map({ $0 >= timerDeadline }) ?? true { return }
        timer?.cancel()
        timer = nil
        timerDeadline = deadline
        guard let deadline else { return }
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            if machine?.timerFired(now: .now()) == true {
                context.close(promise: nil)
            } else {
                schedule(context)
            }
        }
    }
}

extension TimeAmount {
    fileprivate init(_ duration: Duration) { self = .nanoseconds(duration.nanosecondsClamped) }
}
