import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PanicCore
import Synchronization

/// A small AIS-140 server for tests, benchmarks and `panicd sim`: it answers the login with `$LGN<ddMMyyyyHHmmss>*`
/// and the heartbeat with `$HBT*`, as Traccar's `its` server does (no line end), and records every frame it
/// receives (split at `\r\n`, as Traccar's `ItsFrameDecoder`), decoding each with `ITSFrameReader`.
///
/// `behaviour` makes it misbehave the ways real servers do: down (closes every connection at once), garbage or
/// refusal in place of the login answer, an oversize answer, no heartbeat answer (then it closes).
public final class AIS140ReferenceReceiver: Sendable {
    /// How the server answers.
    public enum Behaviour: Sendable, Hashable {
        case standard
        /// Reads the login and closes without answering: the network is "down" for this backend.
        case down
        /// Answers the login with bytes that are not an answer.
        case garbageLogin
        /// Answers the login with `$LGN` refused in the form some servers use (`$ERR*`).
        case refuseLogin
        /// Answers the login with a line longer than the device reads.
        case oversizeAnswer
        /// Reads the frames but never answers the heartbeat, then closes: a lost acknowledgement.
        case silentHeartbeat
        /// Answers the login with a refusal carrying a line end, a forged log line and a terminal escape sequence:
        /// a hostile server trying to write lines into the box's log (`hostileLoginAnswer`).
        case forgeLogLine
        /// Reads everything, answers nothing after the login and keeps the connection open: a server that hangs.
        case mute
        /// Answers the heartbeat with `floodAnswers` short answers first (`$,1,*`): a server flooding the box.
        case flood
        /// Answers the heartbeat with an answer longer than the device reads.
        case oversizeHeartbeatAnswer
    }

    /// How many answers `flood` sends before the heartbeat answer.
    public static let floodAnswers = 100_000

    /// What `forgeLogLine` answers the login with.
    public static let hostileLoginAnswer =
        "$ERR\n2026-12-07T00:00:00+0000 critical panicd : [alert] the control room cleared every alert \u{1B}[2K\\\"*"

    /// One frame as received.
    public struct Frame: Sendable, Hashable {
        public var text: String
        /// What Traccar's decoder makes of it (nil for login, heartbeat, health).
        public var position: ITSFrameReader.Position?
    }

    private struct State: Sendable {
        var behaviour: Behaviour
        var frames: [Frame] = []
        var logins = 0
        var connections = 0
        /// Open connections, to hang up on.
        var open: [ObjectIdentifier: any Channel] = [:]
        /// OTA commands to send with the next heartbeat answer.
        var commands: [String] = []
    }

    private let server: NIOAsyncChannel<NIOAsyncChannel<String, ByteBuffer>, Never>
    private let state: Mutex<State>
    /// Every frame, as it arrives.
    public let arrivals: AsyncStream<Frame>
    private let arrivalSink: AsyncStream<Frame>.Continuation
    /// The port it listens on (loopback).
    public let port: Int
    private let tls: Bool

    /// Binds to `host`:`port` (0: any free port), speaking TLS with `tls` when given; `run()` serves.
    public init(
        host: String = "127.0.0.1", port: Int = 0, behaviour: Behaviour = .standard, tls: TLSConfiguration? = nil
    ) async throws {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        self.tls = tls != nil
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(maximum: 4096)))
                    return try NIOAsyncChannel<String, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        self.port = server.channel.localAddress?.port ?? 0
        state = Mutex(State(behaviour: behaviour))
        (arrivals, arrivalSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// The server's URL for a backend: `tcp://127.0.0.1:PORT` (`tls://` with TLS).
    public var url: String { "\(tls ? "tls" : "tcp")://127.0.0.1:\(port)" }

    /// Every frame received so far (logins and heartbeats included), in order of arrival.
    public var frames: [Frame] { state.withLock { $0.frames } }
    /// The positions decoded so far (tracking and emergency frames).
    public var positions: [ITSFrameReader.Position] { frames.compactMap(\.position) }
    /// Logins answered.
    public var logins: Int { state.withLock { $0.logins } }
    /// Connections accepted (each starts a session).
    public var connections: Int { state.withLock { $0.connections } }

    /// Closes every open connection, as a server's idle timeout or restart does.
    public func hangUp() {
        for channel in state.withLock({ $0.open.values }) { channel.close(promise: nil) }
    }

    /// Sends an OTA command (`SET PIP:1.2.3.4`, `GET VN`, `CLR EO`) to the box on its kept session, ahead of the
    /// next heartbeat answer; the box's `$OTA,…*` answer and its Alert 12 frames are recorded as frames.
    public func send(command: String) { state.withLock { $0.commands.append(command) } }

    /// The box's answers to OTA commands (the text after `$OTA,`), in order.
    public var otaAnswers: [String] {
        frames.compactMap { frame in
            frame.text.hasPrefix("$OTA,") ? String(frame.text.dropFirst(5).prefix { $0 != "*" }) : nil
        }
    }

    /// The OTA field (`SET:SRV:name|PIP:1.2.3.4`) of each Alert 12 frame received (packet type `OA`, alert `12`).
    public var otaAlerts: [String] {
        frames.compactMap { frame in
            let fields = frame.text.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 6, fields[1] == "NRM", fields[4] == "OA", fields[5] == "12" else { return nil }
            // …, frame number, OTA field, CRC32, `*`.
            return String(fields[fields.count - 3])
        }
    }

    /// Changes how it answers from the next frame on.
    public func set(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }

    /// Serves until cancelled.
    public func run() async throws {
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask { try? await self.serve(connection) }
                }
            }
        }
        arrivalSink.finish()
    }

    private func serve(_ connection: NIOAsyncChannel<String, ByteBuffer>) async throws {
        let id = ObjectIdentifier(connection.channel)
        state.withLock {
            $0.connections += 1
            $0.open[id] = connection.channel
        }
        defer { _ = state.withLock { $0.open.removeValue(forKey: id) } }
        try await connection.executeThenClose { inbound, outbound in
            for try await line in inbound {
                let behaviour = state.withLock { $0.behaviour }
                // Down: the login is read (so the close is a clean FIN, not a reset) and never answered.
                if behaviour == .down { return }
                let frame = Frame(text: line, position: ITSFrameReader.read(line))
                state.withLock { $0.frames.append(frame) }
                arrivalSink.yield(frame)
                if line.hasPrefix("$,LGN,") {
                    switch behaviour {
                    case .garbageLogin: try await outbound.write(ByteBuffer(bytes: [0x00, 0xFF, 0x2A]))
                    case .refuseLogin: try await outbound.write(ByteBuffer(string: "$ERR*"))
                    case .forgeLogLine: try await outbound.write(ByteBuffer(string: Self.hostileLoginAnswer))
                    case .oversizeAnswer:
                        try await outbound.write(ByteBuffer(string: String(repeating: "$", count: 600)))
                    default:
                        state.withLock { $0.logins += 1 }
                        try await outbound.write(ByteBuffer(string: "$LGN\(Self.answerTime())*"))
                    }
                } else if line.hasPrefix("$,HBT,") {
                    switch behaviour {
                    case .silentHeartbeat: return
                    case .mute: continue
                    case .flood:
                        let answer = ByteBuffer(string: String(repeating: "$,1,*", count: 1000))
                        for _ in 0..<(Self.floodAnswers / 1000) { try await outbound.write(answer) }
                    case .oversizeHeartbeatAnswer:
                        try await outbound.write(ByteBuffer(string: "$" + String(repeating: "9", count: 600) + "*"))
                        continue
                    default: break
                    }
                    let commands = state.withLock { state in
                        defer { state.commands = [] }
                        return state.commands
                    }
                    for command in commands { try await outbound.write(ByteBuffer(string: command + "\r\n")) }
                    try await outbound.write(ByteBuffer(string: "$HBT*"))
                }
            }
        }
    }

    /// `ddMMyyyyHHmmss` in UTC, as Traccar answers a login.
    static func answerTime() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "ddMMyyyyHHmmss"
        return formatter.string(from: Date())
    }
}

/// Splits a byte stream into lines at `\n` (a `\r` before it is dropped); a line longer than `maximum` is an
/// error that closes the connection.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let maximum: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let end = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > maximum { throw AIS140AnswerError(description: "line longer than \(maximum) bytes") }
            return .needMoreData
        }
        let length = view.distance(from: view.startIndex, to: end)
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
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
