import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PanicCore

/// AIS-140 over TCP (`tcp://host:port`) or TLS (`tls://host:port`).
///
/// One delivery is one connection: the login packet, the server's `$LGN…*` answer awaited, the frames, then a
/// heartbeat whose `$HBT*` answer acknowledges them all. TCP delivers in order, so a server that answers the
/// heartbeat has read every frame before it; AIS-140 has no per-frame acknowledgement (docs/uplink.md →
/// *AIS-140*). Anything else — refused connection, a login answer that is not `$LGN`, garbage, an answer longer
/// than `maximumAnswer`, the connection closed, the deadline passed — acknowledges nothing: the records stay
/// pending and the lane backs off.
public final class AIS140Transport: RecordTransport {
    /// Longest server answer read (`$LGN` + 14 digits + `*` is 19 bytes).
    public static let maximumAnswer = 256

    private let host: String
    private let port: Int
    private let options: AIS140Options
    private let tls: NIOSSLContext?
    private let setupError: String?

    /// A transport to `url` (`tcp://host:port` or `tls://host:port`).
    public init(url: String, options: AIS140Options, trust: TrustRoots) {
        self.options = options
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
            return AIS140.emergencyPacket(outgoing.record, identity: options.identity, live: outgoing.live).map { [$0] }
                ?? []
        }
        return AIS140.frames(
            for: outgoing.record, identity: options.identity, live: outgoing.live, health: options.health,
            clearing: outgoing.clearedKind)
    }

    public func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        let frames = records.map(frames(for:))
        // Records this backend does not carry at the head of the batch are settled whatever happens.
        let settled = frames.prefix { $0.isEmpty }.count
        guard settled < records.count else { return ReceiverReport(acknowledged: records.count) }
        if let setupError { return ReceiverReport(acknowledged: settled, failure: setupError) }
        let login = AIS140.login(options.identity, fix: records.first { $0.record.fix != nil }?.record.fix)
        let heartbeat = AIS140.heartbeat(options.identity)
        let payload = Array(frames.joined())
        do {
            try await withDeadline(timeout, what: "AIS-140 server \(host):\(port)") {
                try await self.exchange(login: login, frames: payload, heartbeat: heartbeat)
            }
            return ReceiverReport(acknowledged: records.count)
        } catch {
            return ReceiverReport(acknowledged: settled, failure: UplinkTransportError.describe(error))
        }
    }

    private func exchange(login: String, frames: [String], heartbeat: String) async throws {
        let host = host
        let tls = tls
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
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
        let server = "\(host):\(port)"
        try await channel.executeThenClose { inbound, outbound in
            var answers = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: login))
            guard let answer = try await answers.next() else {
                throw UplinkTransportError(description: "AIS-140 server \(server) closed the connection at login")
            }
            guard answer.hasPrefix("$LGN") else {
                throw UplinkTransportError(
                    description: "AIS-140 server \(server) answered the login with \(LogText.quoted(answer, limit: 40))"
                )
            }
            try await outbound.write(contentsOf: frames.map { ByteBuffer(string: $0) })
            try await outbound.write(ByteBuffer(string: heartbeat))
            // Some servers answer packets too (e.g. `$,1,*`); only the heartbeat answer ends the exchange.
            var others = 0
            while true {
                guard let answer = try await answers.next() else {
                    throw UplinkTransportError(
                        description: "AIS-140 server \(server) closed the connection before answering the heartbeat")
                }
                if answer.hasPrefix("$HBT") { return }
                others += 1
                guard answer.hasPrefix("$"), others <= frames.count + 1 else {
                    throw UplinkTransportError(
                        description:
                            "AIS-140 server \(server) answered the heartbeat with \(LogText.quoted(answer, limit: 40))")
                }
            }
        }
    }

    public func shutdown() async throws {}

    /// The heartbeat interval (`AIS140Options.heartbeat`).
    public var keepAliveInterval: Duration? { options.heartbeat }

    /// A connection with only the login and a heartbeat, both answered.
    public func keepAlive(timeout: Duration) async -> String? {
        if let setupError { return setupError }
        let login = AIS140.login(options.identity, fix: nil)
        let heartbeat = AIS140.heartbeat(options.identity)
        do {
            try await withDeadline(timeout, what: "AIS-140 server \(host):\(port)") {
                try await self.exchange(login: login, frames: [], heartbeat: heartbeat)
            }
            return nil
        } catch {
            return UplinkTransportError.describe(error)
        }
    }
}

/// Why a server's answer could not be read.
public struct AIS140AnswerError: Error, CustomStringConvertible {
    public var description: String
}

/// Splits a server's answers at `*` (`$LGN…*`, `$HBT*`; Traccar writes them without a line end), skipping line
/// ends between them.
struct AIS140AnswerDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let maximum: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == 13 || byte == 10 {
            buffer.moveReaderIndex(forwardBy: 1)
        }
        let view = buffer.readableBytesView
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
