import ArgumentParser
import Foundation
import PanicDaemon

/// Where a client finds the running daemon's status socket: `--socket`, else the configuration's
/// `status_socket`.
struct SocketOption: ParsableArguments {
    @Option(help: "The daemon's status socket (default: status_socket from --config, or /run/panicd/status.sock).")
    var socket: String?

    @Option(name: .shortAndLong, help: "The configuration file naming the status socket.")
    var config = "/etc/panicbridge/panicd.yaml"

    var client: StatusClient { StatusClient(path: socket ?? StatusClient.socketPath(config: config)) }

    /// Reads `request` from the running daemon until it closes the connection or `count` messages were read.
    func read(_ request: StatusRequest, count: Int, _ body: (StatusMessage) -> Void) throws {
        var seen = 0
        do {
            try client.read(request) { message in
                body(message)
                seen += 1
                return count == 0 || seen < count
            }
        } catch let error as StatusClient.Failure {
            throw CLIError(error.description)
        }
    }
}

/// `panicd status`: what the running daemon is doing, read from its status socket (it keeps guarding).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's state: alert, LED, inputs, fix, queues, deliveries, last error.",
        discussion: """
            Reads the daemon's read-only status socket (root or group panicd). --watch prints it again on every \
            change and every few seconds; --json prints the daemon's JSON lines as they come. Exit code 1 when \
            no daemon answers.
            """
    )

    @OptionGroup var socket: SocketOption

    @Flag(help: "Keep printing on every change until interrupted.")
    var watch = false

    @Flag(help: "Print the JSON objects instead of the text.")
    var json = false

    @Option(help: "With --watch: stop after this many updates (0: until interrupted).")
    var count = 0

    func run() throws {
        try socket.read(watch ? .watch : .status, count: watch ? count : 1) { message in
            guard case .status(let status) = message else { return }
            if json {
                print(Self.json(status))
            } else {
                if watch { print("── \(status.summary)") }
                print(status.text)
            }
            fflush(nil)
        }
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
