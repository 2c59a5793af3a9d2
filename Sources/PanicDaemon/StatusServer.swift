import Foundation
import Logging
import NIOCore
import NIOPosix
import PanicCore
import ServiceLifecycle

/// The daemon's read-only local control socket: a Unix stream socket (mode 0660, so root and group `panicd`)
/// where a client writes one request line (`status`, `watch`, `inputs` or `gnss`, see `StatusRequest`) and reads
/// JSON lines (`StatusMessage`) back. Nothing on it can change the box; a socket that cannot be made is logged
/// and the box keeps guarding without it.
public struct StatusServer: Service {
    let path: String
    let board: StatusBoard
    let clock: any MonotonicClock
    let logger: Logger
    /// Where the socket's connections live (the daemon's one loop).
    let network: any EventLoopGroup

    public init(
        path: String, board: StatusBoard, clock: any MonotonicClock, logger: Logger,
        network: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.path = path
        self.board = board
        self.clock = clock
        self.logger = logger
        self.network = network
    }

    public func run() async throws {
        let served = try await LocalSocket.serve(
            path: path, purpose: "the status socket; panicd status will not reach this daemon", network: network,
            logger: logger,
            onListening: { logger.info("serving status on \(path)") }
        ) { connection in await serve(connection) }
        if !served {
            try? await gracefulShutdown()
            return
        }
        board.finish()
    }

    /// One client: its request line, then the answer (one line, or lines until either side goes away).
    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var request = ""
                while !request.contains("\n"), request.utf8.count < 64, let chunk = try await iterator.next() {
                    request += String(buffer: chunk)
                }
                let name = request.split(separator: "\n").first.map { String($0).trimmingCharacters(in: .whitespaces) }
                guard let name, let kind = StatusRequest(rawValue: name) else {
                    let known = StatusRequest.allCases.map(\.rawValue).joined(separator: ", ")
                    try await outbound.write(ByteBuffer(string: #"{"error":"ask for one of: \#(known)"}"# + "\n"))
                    return
                }
                if kind == .status {
                    try await outbound.write(Self.line(.status(board.snapshot())))
                    return
                }
                // A watch runs until a write fails (the client hung up) or the daemon stops (cancellation).
                try await stream(kind, to: outbound)
            }
        } catch {
            logger.debug("status client went away", metadata: ["error": "\(error)"])
        }
    }

    func stream(_ kind: StatusRequest, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        switch kind {
        case .status, .watch:
            let changes = board.subscribe()
            var last: BoxStatus?
            try await outbound.write(Self.line(.status(board.snapshot())))
            for await change in changes {
                guard case .changed = change else { continue }
                let status = board.snapshot()
                if status != last { try await outbound.write(Self.line(.status(status))) }
                last = status
            }
        case .inputs:
            // A client that hangs up is noticed at the next event's write.
            for await change in board.subscribe() {
                if case .input(let report) = change { try await outbound.write(Self.line(.input(report))) }
            }
        case .gnss:
            // Once a second while someone watches; nothing at all while nobody does.
            var next = clock.now
            while !Task.isCancelled {
                try await outbound.write(Self.line(.gnss(board.gnssReport())))
                next = next.advanced(by: .seconds(1))
                try await clock.sleep(until: next, tolerance: .milliseconds(50))
            }
        }
    }

    static func line(_ message: StatusMessage) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(message)) ?? Data(#"{"error":"cannot encode"}"#.utf8)
        var buffer = ByteBuffer(bytes: data)
        buffer.writeString("\n")
        return buffer
    }
}
