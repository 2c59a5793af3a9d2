import Foundation
import Logging
import NIOCore
import NIOPosix
import PanicConfig
import PanicSim
import ServiceLifecycle

/// `panicd run` on the simulated board: a Unix stream socket where each line is an act of the input-script
/// vocabulary (`press NAME [HOLD]`, `release NAME`, `bounce NAME EDGES MS`, `cut NAME`, `restore NAME`,
/// `enclosure open|closed`, `main_power on|off`, `ignition on|off`), carried out on the virtual buttons at once and
/// answered `ok` or `error: …`, so an alert can travel through the real daemon (docs/daemon.md → *Sim board*). Only
/// on the simulated board: a real box has no such socket.
public struct SimInputServer: Service {
    let path: String
    let lines: SimulatedInputLines
    let logger: Logger
    /// Longest request line.
    static let maximumLine = 256

    /// Where the socket's connections live (the daemon's one loop).
    let network: any EventLoopGroup

    public init(
        path: String, lines: SimulatedInputLines, logger: Logger,
        network: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.path = path
        self.lines = lines
        self.logger = logger
        self.network = network
    }

    public func run() async throws {
        _ = try await LocalSocket.serve(
            path: path, purpose: "the simulated board's input socket", network: network, logger: logger,
            onListening: { logger.info("simulated board: virtual buttons on \(path)") }
        ) { connection in await serve(connection) }
    }

    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var pending = ""
                var number = 0
                for try await chunk in inbound {
                    pending += String(buffer: chunk)
                    while let end = pending.firstIndex(of: "\n") {
                        number += 1
                        let line = String(pending[..<end])
                        pending = String(pending[pending.index(after: end)...])
                        let answer = await perform(line, number: number)
                        try await outbound.write(ByteBuffer(string: answer + "\n"))
                    }
                    if pending.utf8.count > Self.maximumLine {
                        try await outbound.write(
                            ByteBuffer(string: "error: a line longer than \(Self.maximumLine) bytes\n"))
                        return
                    }
                }
            }
        } catch {
            logger.debug("input client went away", metadata: ["error": "\(error)"])
        }
    }

    /// Carries out one request line; returns the answer.
    func perform(_ text: String, number: Int) async -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: true)
        // `press NAME HOLD`: pressed, then let go after HOLD.
        var hold: Duration?
        if words.first == "press", words.count == 3 {
            guard let duration = Scenario.parseOffset(String(words[2])) else {
                return "error: \(words[2]) is not a duration (800ms, 2s)"
            }
            hold = duration
            words.removeLast()
        }
        do {
            guard let parsed = try InputScript.parse(Substring(words.joined(separator: " ")), line: number) else {
                return "ok"
            }
            guard case .act(let action) = parsed else { return "error: wait is for scripts, not this socket" }
            guard try lines.perform(action) else { return "error: \(action) is not an act on the lines" }
            logger.notice("simulated board: \(text)")
            if let hold, case .press(let input, _) = action {
                try await Task.sleep(for: hold)
                try lines.release(input)
            }
            return "ok"
        } catch {
            return "error: \(error)"
        }
    }
}
