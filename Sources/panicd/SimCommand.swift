import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicDaemon

/// Writes a line straight to standard output: the timeline is meant to be watched live, also through a pipe.
@Sendable func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// `panicd sim`: the daemon on the simulated board, driven by a scenario file.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a scenario on the simulated board against an embedded control room, on a virtual clock.",
        discussion: """
            Prints a timeline (what happened, what the box showed, what the control room saw), then each \
            expectation and the totals. The exit code is 0 only when every expectation held. Scenario files \
            are described in sim/scenarios/README.md.
            """
    )

    @Option(name: .shortAndLong, help: "The scenario file.")
    var scenario = "sim/scenarios/demo.yaml"

    @Option(
        help: "Keep the outbox, control-room database and engine state in this directory (default: a temporary one).")
    var keep: String?

    func run() async throws {
        let (parsed, problems) = Scenario.load(path: scenario)
        guard let parsed else {
            for problem in problems { say("error \(scenario): \(problem)") }
            throw ExitCode(2)
        }
        let directory =
            keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("panicd-sim-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }

        say("scenario: \(parsed.name)")
        let started = ContinuousClock.now
        let simulator = try Simulator(
            scenario: parsed, directory: directory, logger: Logger(label: "panicd.sim"),
            print: say)
        let report = try await simulator.run()
        let took = ContinuousClock.now - started

        say("")
        say("expectations:")
        for (text, held) in report.expectations { say("  \(held ? "✔" : "✘") \(text)") }
        let kinds = report.deliveredByKind.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        say(
            "totals: \(report.stored) records stored, \(report.delivered) delivered (\(kinds)), "
                + "\(report.undelivered) undelivered, \(report.lost) lost, \(report.duplicates) duplicates, "
                + "\(report.gaps) gaps")
        say(
            "simulated \(Simulator.seconds(parsed.duration)) in \(Simulator.seconds(took)) — "
                + (report.passed ? "PASSED" : "FAILED"))
        if !report.passed { throw ExitCode(1) }
    }
}
