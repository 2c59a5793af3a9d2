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

    @Option(help: "Run a fleet of this many boxes on their own routes and schedules instead of a scenario.")
    var fleet: Int?

    @Option(help: "How long the fleet's schedule runs in virtual time (e.g. 90s, 1m, 10m), before the drain.")
    var duration = "1m"

    @Option(help: "Seeds the fleet's schedule of presses and outages.")
    var seed: UInt64 = 1

    @Option(
        help: "Keep the outbox, control-room database and engine state in this directory (default: a temporary one).")
    var keep: String?

    func run() async throws {
        if let fleet {
            try await runFleet(devices: fleet)
            return
        }
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

    func runFleet(devices: Int) async throws {
        guard let duration = Scenario.parseOffset(duration) else {
            say("error --duration \(self.duration): expected a duration such as 90s, 1m or 10m")
            throw ExitCode(2)
        }
        let directory =
            keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("panicd-fleet-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }

        let started = ContinuousClock.now
        let simulator = try FleetSimulator(
            configuration: .init(devices: devices, duration: duration, seed: seed), directory: directory, print: say)
        let report = try await simulator.run()
        let took = ContinuousClock.now - started

        say("")
        for device in report.devices {
            say(
                "  \(device.name) (\(device.route)): \(device.presses) presses, \(device.outages) outages, "
                    + "\(device.stored) stored, \(device.delivered) delivered, \(device.undelivered) undelivered, "
                    + "\(device.lost) lost, \(device.duplicates) duplicates, \(device.resent) resent")
        }
        let reached = report.devices.filter { $0.delivered > 0 }.count
        say("")
        say(
            "fleet: \(report.devices.count) boxes, \(report.presses) presses, \(report.outages) outages; "
                + "\(reached) of \(report.devices.count) boxes delivered records")
        say(
            "totals: \(report.stored) records stored, \(report.delivered) delivered, "
                + "\(report.undelivered) undelivered, \(report.lost) lost, \(report.duplicates) duplicates, "
                + "\(report.resent) resent (answered as duplicate), \(report.rejected) rejected, \(report.gaps) gaps")
        say(
            "alerts: \(report.alertsStored) stored, \(report.alertsDelivered) delivered, \(report.late) late "
                + "(more than 5 s of network-up time between stored and received); longest wait with the network up "
                + "\(Simulator.seconds(report.longestWait)), longest delivery \(Simulator.seconds(report.longestDelivery))"
        )
        say(
            "simulated \(Simulator.seconds(report.simulated)) (drain included) in \(Simulator.seconds(took)) — "
                + (report.passed ? "PASSED" : "FAILED"))
        if !report.passed { throw ExitCode(1) }
    }
}
