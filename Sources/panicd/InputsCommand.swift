import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicDaemon

/// `panicd inputs …`: the installer's tools for buttons, sense lines, LED and buzzer.
struct InputsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inputs",
        abstract: "Watch a board's inputs and walk its outputs.",
        subcommands: [Watch.self, Test.self]
    )

    struct BoardOption: ParsableArguments {
        @Option(help: "The board file (boards/*.yaml).")
        var board: String?

        func load() throws -> BoardDefinition {
            guard let board else { throw ValidationError("give --board FILE") }
            let result = BoardFile.load(path: board)
            guard result.isValid, let definition = result.board else {
                let problems = result.problems.map { problem in
                    "\(board):\(problem.line.map(String.init) ?? "?"): \(problem.key.isEmpty ? "" : problem.key + ": ")"
                        + problem.message
                }
                throw ValidationError((["invalid board file:"] + problems).joined(separator: "\n  "))
            }
            return definition
        }
    }

    /// `panicd inputs watch --board FILE`: classified events, live.
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print classified input events live (time, role, line, kind), like gpiomon in the board's words.",
            discussion: """
                On a libgpiod board this requests the lines (consumer "panicd") and prints until interrupted. \
                On the simulated board, type script lines on standard input (press help, wait 300ms, \
                cut driver-emergency, …), or pass --script FILE to play a script in virtual time; see docs/inputs.md. \
                With --live, the events come from the running daemon's status socket instead: the lines stay \
                with the daemon, which keeps guarding.
                """
        )

        @OptionGroup var board: BoardOption

        @Flag(help: "Watch the running daemon's classified events (its status socket) instead of the hardware.")
        var live = false

        @OptionGroup var socket: SocketOption

        @Option(help: "With --live: stop after this many events (0: until interrupted).")
        var count = 0

        @Option(help: "Simulated board only: play this script in virtual time ('-' reads it from standard input).")
        var script: String?

        func run() async throws {
            if live {
                try socket.read(.inputs, count: count) { message in
                    guard case .input(let event) = message else { return }
                    let seconds = Double(event.atMilliseconds) / 1000
                    print("\(String(format: "%10.3f", seconds))  \(event.role)  \(event.name)  \(event.kind)")
                    fflush(nil)
                }
                return
            }
            let definition = try board.load()
            let output: @Sendable (String) -> Void = { line in print(line) }
            if let script {
                guard definition.backend == .simulated else {
                    throw ValidationError(
                        "--script needs a simulated board; \(board.board ?? "") is \(definition.backend)")
                }
                let text: String
                if script == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    text = try String(contentsOfFile: script, encoding: .utf8)
                }
                var commands: [InputScript.Line] = []
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    if let command = try InputScript.parse(line, line: number + 1) {
                        commands.append(command)
                    }
                }
                try await InputsTool.watchSimulated(board: definition, script: commands, print: output)
            } else {
                try await InputsTool.watchLive(board: definition, print: output)
            }
        }
    }

    /// `panicd inputs test --board FILE`: LED on/off, buzzer chirp.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the outputs (LED on, off, buzzer chirp) to check the wiring; on the sim board, print them."
        )

        @OptionGroup var board: BoardOption

        func run() async throws {
            try await InputsTool.test(board: try board.load()) { line in print(line) }
        }
    }
}
