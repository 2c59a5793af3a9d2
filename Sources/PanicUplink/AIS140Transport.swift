import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PanicCore
import Synchronization

/// AIS-140 over TCP (`tcp://host:port`) or TLS (`tls://host:port`), over one kept session per backend.
///
/// `run()` owns the session: it connects and logs in (the server's `$LGN…*` answer awaited) when the first
/// delivery or heartbeat comes, then keeps the connection for every later one. A delivery writes its frames, then a
/// heartbeat whose `$HBT*` answer acknowledges them all: TCP delivers in order, so a server that answers the
/// heartbeat has read every frame before it; AIS-140 has no per-frame acknowledgement (docs/uplink.md →
/// *AIS-140*). While nothing else is sent, `keepAlive` sends a heartbeat on the same session.
///
/// Anything else — refused connection, a login answer that is not `$LGN`, garbage, an answer longer than
/// `maximumAnswer`, more answers than the exchange can have, the connection closed, the deadline passed —
/// acknowledges nothing: the records stay pending, the session is dropped and the lane backs off; the next delivery
/// connects and logs in again. A session the server closed while it was idle is not a failure: the delivery goes
/// out on a fresh one at once.
public final class AIS140Transport: RecordTransport {
    /// Longest server answer read (`$LGN` + 14 digits + `*` is 19 bytes).
    public static let maximumAnswer = 256

    private let host: String
    private let port: Int
    /// Where the session's connection lives (the daemon's one loop: see ``init(url:options:trust:eventLoopGroup:)``).
    private let group: any EventLoopGroup
    private let options: AIS140Options
    private let tls: NIOSSLContext?
    private let setupError: String?
    private let queue = Mutex(Queue())
    private let counters = Mutex(SessionCounters())
    /// The open session's channel, to hang up on.
    private let current = Mutex<(any Channel)?>(nil)
    /// The last fix this backend's frames carried (see ``located(_:)``).
    private let lastFix = Mutex<RecordFix?>(nil)
    /// Carries out a server's OTA command (`SET`/`GET`/`CLR`, docs/uplink.md → *AIS-140 OTA commands*); nil: the
    /// box takes none on this session and says so.
    private let commandHandler = Mutex<CommandHandler?>(nil)

    private struct CommandHandler: Sendable {
        let handle: @Sendable (String) async -> (reply: AIS140.OTA.Reply, restart: String?)
        let answered: @Sendable (String) -> Void
    }

    /// Most OTA commands read in one exchange; more is a server flooding the box: the session ends.
    public static let maximumCommandsPerExchange = 8

    /// Sets what carries out the OTA commands this backend's server sends on the kept session. A command is read
    /// when the session is next used (a delivery or the heartbeat), answered on the session with `$OTA,…*` and
    /// followed by the Alert 12 frames of the reply. When the handler gives a restart reason (a `SET` applied),
    /// `answered` gets it once the answer is written.
    public func handleCommands(
        with handle: @escaping @Sendable (String) async -> (reply: AIS140.OTA.Reply, restart: String?),
        answered: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        commandHandler.withLock { $0 = CommandHandler(handle: handle, answered: answered) }
    }

    /// How many sessions were opened and logged in, for tests and the simulator.
    public struct SessionCounters: Sendable, Hashable {
        /// Connections opened.
        public var connections = 0
        /// Logins the server answered with `$LGN`.
        public var logins = 0
    }

    /// The sessions opened so far.
    public var sessions: SessionCounters { counters.withLock { $0 } }

    /// Closes the open session, as a lost link does (the simulator's outages): the next exchange connects and logs
    /// in again.
    public func hangUp() {
        current.withLock { $0 }?.close(promise: nil)
    }

    /// A transport to `url` (`tcp://host:port` or `tls://host:port`), its session on `eventLoopGroup`. The daemon
    /// passes its one loop, so the kept session, its deadlines and its heartbeats wake no other thread; a host name
    /// is resolved on NIO's blocking pool, never through libdispatch (``ThreadPoolResolver``).
    public init(
        url: String, options: AIS140Options, trust: TrustRoots,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.options = options
        group = eventLoopGroup
        let parsed = URL(string: url)
        host = parsed?.host ?? ""
        port = parsed?.port ?? 0
        var setupError: String?
        var context: NIOSSLContext?
        let scheme = parsed?.scheme ?? ""
        if host.isEmpty || port == 0 || !["tcp", "tls"].contains(scheme) {
            setupError = "'\(url)' is not a tcp://host:port or tls://host:port URL"
        } else if scheme == "tls" || options.tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if case .caFile(let path) = trust { configuration.trustRoots = .file(path) }
            do { context = try NIOSSLContext(configuration: configuration) } catch {
                setupError = "TLS setup failed: \(error)"
            }
        }
        tls = context
        self.setupError = setupError
    }

    /// The frames `outgoing` becomes on this backend (none for a record it does not carry).
    public func frames(for outgoing: OutgoingRecord) -> [String] {
        if !options.sendHelp, outgoing.isHelp { return [] }
        if options.emergencyOnly {
            let packet =
                switch options.dialect {
                case .traccar: AIS140.emergencyPacket(outgoing.record, identity: options.identity, live: outgoing.live)
                case .cdac:
                    AIS140.CDAC.emergencyPacket(outgoing.record, identity: options.identity, live: outgoing.live)
                }
            return packet.map { [$0] } ?? []
        }
        switch options.dialect {
        case .traccar:
            return AIS140.frames(
                for: outgoing.record, identity: options.identity, live: outgoing.live, health: options.health,
                clearing: outgoing.clearedKind)
        case .cdac:
            return AIS140.CDAC.frames(
                for: outgoing.record, identity: options.identity, live: outgoing.live, health: options.health,
                clearing: outgoing.clearedKind)
        }
    }

    /// This backend's heartbeat frame.
    private var heartbeat: String {
        switch options.dialect {
        case .traccar: AIS140.heartbeat(options.identity)
        case .cdac: AIS140.CDAC.heartbeat(options.identity, settings: options.health)
        }
    }

    /// This backend's login frame.
    private func login(fix: RecordFix?) -> String {
        switch options.dialect {
        case .traccar: AIS140.login(options.identity, fix: fix)
        case .cdac: AIS140.CDAC.login(options.identity, fix: fix)
        }
    }

    /// `outgoing` with a position a backend can draw. A record without a fix (privacy mode outside an alert; a
    /// receiver that lost its fix before the first one of the run) would go out at `0.000000,0.000000` — a point in
    /// the Atlantic on the state's map. Once this backend has been sent a fix, such a record carries that last fix
    /// instead, as stale (the frame's fix flag `0`): a position the backend already has, never a new one. A record
    /// with a fix updates it.
    func located(_ outgoing: OutgoingRecord) -> OutgoingRecord {
        if let fix = outgoing.record.fix {
            lastFix.withLock { $0 = fix }
            return outgoing
        }
        guard var fix = lastFix.withLock({ $0 }) else { return outgoing }
        fix.ageMilliseconds = max(fix.ageMilliseconds, AIS140.validFixAgeMilliseconds + 1)
        var located = outgoing
        located.record.fix = fix
        return located
    }

    public func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        let records = records.map(located)
        let frames = records.map(frames(for:))
        // Records this backend does not carry at the head of the batch are settled whatever happens.
        let settled = frames.prefix { $0.isEmpty }.count
        guard settled < records.count else { return ReceiverReport(acknowledged: records.count) }
        if let setupError { return ReceiverReport(acknowledged: settled, failure: setupError) }
        let fix = records.first { $0.record.fix != nil }?.record.fix
        // The alert lane's batch goes before a queued backlog batch on the shared session: an emergency never
        // waits behind the backlog.
        let urgent = records.contains { $0.record.kind.isAlert || $0.record.kind == .cleared }
        if let failure = await submit(frames: Array(frames.joined()), fix: fix, timeout: timeout, urgent: urgent) {
            return ReceiverReport(acknowledged: settled, failure: failure)
        }
        return ReceiverReport(acknowledged: records.count)
    }

    public func shutdown() async throws {}

    /// The heartbeat interval (`AIS140Options.heartbeat`).
    public var keepAliveInterval: Duration? { options.heartbeat }

    /// A heartbeat on the session (logging in first when there is none), answered.
    public func keepAlive(timeout: Duration) async -> String? {
        if let setupError { return setupError }
        // A session a heartbeat opens logs in at the last fix sent, not at 0,0.
        return await submit(frames: [], fix: lastFix.withLock { $0 }, timeout: timeout)
    }

    // MARK: The session

    /// One exchange asked of the session's owner: frames (none for a heartbeat alone), then the heartbeat.
    private struct Request: Sendable {
        var frames: [String]
        var fix: RecordFix?
        var deadline: ContinuousClock.Instant
        var timeout: Duration
        /// Whether it already failed once on a session the server had closed.
        var retried = false
        /// Resumed once with nil (acknowledged) or why not.
        var reply: CheckedContinuation<String?, Never>
    }

    /// Requests waiting for the session's owner, and the owner waiting for one.
    private struct Queue: ~Copyable {
        var pending: [Request] = []
        var waiter: CheckedContinuation<Request?, Never>?
        var stopped = false
    }

    /// Hands an exchange to the session's owner (`run()`) and waits for its outcome.
    private func submit(frames: [String], fix: RecordFix?, timeout: Duration, urgent: Bool = false) async -> String? {
        await withCheckedContinuation { reply in
            let request = Request(
                frames: frames, fix: fix, deadline: .now + timeout, timeout: timeout, reply: reply)
            enqueue(request, first: urgent)
        }
    }

    private func enqueue(_ request: Request, first: Bool = false) {
        enum Step {
            case refuse
            case hand(CheckedContinuation<Request?, Never>)
            case queued
        }
        let step: Step = queue.withLock { queue in
            if queue.stopped { return .refuse }
            if let waiter = queue.waiter {
                queue.waiter = nil
                return .hand(waiter)
            }
            if first { queue.pending.insert(request, at: 0) } else { queue.pending.append(request) }
            return .queued
        }
        switch step {
        case .refuse: request.reply.resume(returning: "the AIS-140 session to \(host):\(port) is shut down")
        case .hand(let waiter): waiter.resume(returning: request)
        case .queued: break
        }
    }

    /// The next request, or nil once the owner is cancelled. Its deadline counts from now, when its exchange can
    /// start: time spent queued behind another lane's exchange does not use it up.
    private func nextRequest() async -> Request? {
        var next = await waitForRequest()
        if let timeout = next?.timeout { next?.deadline = .now + timeout }
        return next
    }

    private func waitForRequest() async -> Request? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Request?, Never>) in
                let ready: Request?? = queue.withLock { queue in
                    if queue.stopped || Task.isCancelled { return .some(nil) }
                    if !queue.pending.isEmpty { return .some(queue.pending.removeFirst()) }
                    queue.waiter = waiter
                    return .none
                }
                if let ready { waiter.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = queue.withLock { queue in
                defer { queue.waiter = nil }
                return queue.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Owns the backend's session until cancelled (when the service stops): connects and logs in when a request
    /// comes, serves requests on the session while it lasts, closes it on the way out. Requests still waiting then
    /// fail.
    public func run() async {
        while let request = await nextRequest() {
            await session(startingWith: request)
        }
        let left = queue.withLock { queue in
            queue.stopped = true
            defer { queue.pending = [] }
            return queue.pending
        }
        for request in left { request.reply.resume(returning: "the AIS-140 session to \(host):\(port) is shut down") }
    }

    private var server: String { "\(host):\(port)" }

    /// One session: connect, log in, serve `first` and every request after it until the session fails, the server
    /// closes it or the owner is cancelled.
    private func session(startingWith first: Request) async {
        let channel: NIOAsyncChannel<String, ByteBuffer>
        do {
            channel = try await connect(within: first.deadline)
        } catch {
            first.reply.resume(returning: UplinkTransportError.describe(error))
            return
        }
        counters.withLock { $0.connections += 1 }
        current.withLock { $0 = channel.channel }
        defer { current.withLock { $0 = nil } }
        let leftOver = Mutex<Request?>(first)
        do {
            try await channel.executeThenClose { inbound, outbound in
                var answers = inbound.makeAsyncIterator()
                var request = first
                var loggedIn = false
                var reused = false
                while true {
                    let outcome = await self.exchange(
                        request, login: !loggedIn, answers: &answers, outbound: outbound, channel: channel.channel)
                    leftOver.withLock { $0 = nil }
                    switch outcome {
                    case .acknowledged:
                        loggedIn = true
                        request.reply.resume(returning: nil)
                    case .closed where reused && !request.retried:
                        // The server closed the session while it was idle: the same exchange on a fresh one.
                        request.retried = true
                        self.enqueue(request, first: true)
                        return
                    case .closed(let failure), .failed(let failure):
                        request.reply.resume(returning: failure)
                        return
                    }
                    guard let next = await self.nextRequest() else { return }
                    guard channel.channel.isActive else {
                        // Closed while idle (the server's idle timeout): the next session takes it.
                        self.enqueue(next, first: true)
                        return
                    }
                    reused = true
                    request = next
                    leftOver.withLock { $0 = next }
                }
            }
        } catch {
            // Closing failed: nothing left to answer (every request taken was answered above).
        }
        if let request = leftOver.withLock({ $0 }) {
            request.reply.resume(returning: "the AIS-140 session to \(server) ended")
        }
    }

    private enum Outcome {
        case acknowledged
        /// The connection closed (or could not be written) before any answer to this exchange.
        case closed(String)
        case failed(String)
    }

    /// Writes the login (when `login`), the request's frames and a heartbeat, and reads the answers up to `$HBT*`,
    /// within the request's deadline (passed: the connection is closed under the reader).
    private func exchange(
        _ request: Request, login: Bool, answers: inout NIOAsyncChannelInboundStream<String>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel
    ) async -> Outcome {
        // The deadline is a timer of the connection's own loop (not `Task.sleep`, whose timer is libdispatch's):
        // when it passes it closes the connection under the reader.
        let expired = DeadlineFlag()
        let left = request.deadline - .now
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(max(left, .zero).nanosecondsClamped))) {
            expired.set()
            channel.close(promise: nil)
        }
        let outcome = await exchangeUnbounded(request, login: login, answers: &answers, outbound: outbound)
        timer.cancel()
        if expired.isSet { return .failed("AIS-140 server \(server): no answer within \(request.timeout)") }
        return outcome
    }

    private func exchangeUnbounded(
        _ request: Request, login: Bool, answers: inout NIOAsyncChannelInboundStream<String>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async -> Outcome {
        let server = server
        var answered = false
        do {
            if login {
                try await outbound.write(ByteBuffer(string: self.login(fix: request.fix)))
                guard let answer = try await answers.next() else {
                    return .failed("AIS-140 server \(server) closed the connection at login")
                }
                guard answer.hasPrefix("$LGN") else {
                    return .failed(
                        "AIS-140 server \(server) answered the login with \(LogText.quoted(answer, limit: 40))")
                }
                counters.withLock { $0.logins += 1 }
                answered = true
            }
            try await outbound.write(contentsOf: request.frames.map { ByteBuffer(string: $0) })
            try await outbound.write(ByteBuffer(string: heartbeat))
            // Some servers answer packets too (e.g. `$,1,*`, and `$HBT*` to C-DAC's health frame, a `$,HBT,`); only
            // the answer to the closing heartbeat ends the exchange. More answers than the frames and the heartbeat
            // could have is a server flooding the box: the session ends.
            var heartbeats = 1 + request.frames.filter { $0.hasPrefix("$,HBT,") }.count
            var others = 0
            var commands = 0
            while true {
                guard let answer = try await answers.next() else {
                    let failure = "AIS-140 server \(server) closed the connection before answering the heartbeat"
                    return answered ? .failed(failure) : .closed(failure)
                }
                answered = true
                if !answer.hasPrefix("$") {
                    // A server's OTA command (`SET PIP:…`): answered on the session, then its Alert 12 frames.
                    commands += 1
                    guard commands <= Self.maximumCommandsPerExchange else {
                        return .failed(
                            "AIS-140 server \(server) sent more than \(Self.maximumCommandsPerExchange) OTA commands "
                                + "in one exchange")
                    }
                    let (lines, restart) = await self.answer(command: answer)
                    try await outbound.write(contentsOf: lines.map { ByteBuffer(string: $0) })
                    if let restart { commandHandler.withLock { $0 }?.answered(restart) }
                    continue
                }
                if answer.hasPrefix("$HBT") {
                    heartbeats -= 1
                    if heartbeats == 0 { return .acknowledged }
                    continue
                }
                others += 1
                guard answer.hasPrefix("$"), others <= request.frames.count + 1 else {
                    return .failed(
                        "AIS-140 server \(server) answered the heartbeat with \(LogText.quoted(answer, limit: 40))")
                }
            }
        } catch {
            let failure = "AIS-140 server \(server): \(UplinkTransportError.describe(error))"
            return answered || error is AIS140AnswerError ? .failed(failure) : .closed(failure)
        }
    }

    /// Sends the Alert 12 frames of an OTA command that came another way (by SMS) on the session, with a heartbeat
    /// whose answer acknowledges them; returns why not, or nil.
    public func report(_ reply: AIS140.OTA.Reply, timeout: Duration) async -> String? {
        guard !reply.reports.isEmpty else { return nil }
        if let setupError { return setupError }
        let fix = lastFix.withLock { $0 }
        let frames = reply.reports.map {
            AIS140.otaPacket(info: $0, time: reply.time, fix: fix, identity: options.identity)
        }
        return await submit(frames: frames, fix: fix, timeout: timeout)
    }

    /// The lines that answer a server's OTA command: `$OTA,<answer>*`, then one Alert 12 frame per key, at the
    /// last fix sent to this backend.
    private func answer(command: String) async -> (lines: [String], restart: String?) {
        guard let handler = commandHandler.withLock({ $0 }) else {
            return ([AIS140.OTA.answerLine("ERROR this box takes no OTA commands from \(server)")], nil)
        }
        let (reply, restart) = await handler.handle(command)
        let fix = lastFix.withLock { $0 }
        let lines =
            [AIS140.OTA.answerLine(reply.answer)]
            + reply.reports.map { AIS140.otaPacket(info: $0, time: reply.time, fix: fix, identity: options.identity) }
        return (lines, restart)
    }

    private func connect(within deadline: ContinuousClock.Instant) async throws -> NIOAsyncChannel<String, ByteBuffer> {
        let host = host
        let tls = tls
        let left = deadline - .now
        guard left > .zero else { throw UplinkTransportError(description: "AIS-140 server \(server): no time left") }
        let connectTimeout = min(left, .seconds(5))
        let initialize: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<String, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    let name = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: name))
                }
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(AIS140AnswerDecoder(maximum: AIS140Transport.maximumAnswer)))
                return try NIOAsyncChannel<String, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let loop = group.next()
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(Int64(connectTimeout.nanosecondsClamped)))
        // An address needs no lookup; a name is looked up on NIO's blocking pool, not on a dispatch queue.
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            return try await bootstrap.connect(to: address, channelInitializer: initialize)
        }
        return try await bootstrap.resolver(ThreadPoolResolver(loop: loop))
            .connect(host: host, port: port, channelInitializer: initialize)
    }
}

/// Whether an exchange's deadline passed (set by its timer on the connection's loop, read by the exchange).
private final class DeadlineFlag: Sendable {
    private let passed = Mutex(false)
    func set() { passed.withLock { $0 = true } }
    var isSet: Bool { passed.withLock { $0 } }
}

/// Why a server's answer could not be read.
public struct AIS140AnswerError: Error, CustomStringConvertible {
    public var description: String
}

/// Splits a server's answers at `*` (`$LGN…*`, `$HBT*`; Traccar writes them without a line end), skipping line
/// ends between them. Text that does not start with `$` is an OTA command (`SET PIP:1.2.3.4`), ended by a line end
/// or `*`.
struct AIS140AnswerDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let maximum: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == 13 || byte == 10 {
            buffer.moveReaderIndex(forwardBy: 1)
        }
        let view = buffer.readableBytesView
        if let first = view.first, first != UInt8(ascii: "$"),
            let end = view.firstIndex(where: { $0 == 10 || $0 == 13 || $0 == UInt8(ascii: "*") })
        {
            let length = view.distance(from: view.startIndex, to: end)
            guard length <= maximum else {
                throw AIS140AnswerError(description: "server command longer than \(maximum) bytes")
            }
            let text = buffer.readString(length: length) ?? ""
            if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "*") {
                buffer.moveReaderIndex(forwardBy: 1)
            }
            context.fireChannelRead(wrapInboundOut(text))
            return .continue
        }
        guard let star = view.firstIndex(of: UInt8(ascii: "*")) else {
            if view.count > maximum {
                throw AIS140AnswerError(description: "server answer longer than \(maximum) bytes without '*'")
            }
            return .needMoreData
        }
        let length = view.distance(from: view.startIndex, to: star) + 1
        guard length <= maximum else {
            throw AIS140AnswerError(description: "server answer longer than \(maximum) bytes")
        }
        let text = buffer.readString(length: length) ?? ""
        context.fireChannelRead(wrapInboundOut(text))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}
