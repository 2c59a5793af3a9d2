import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicSigning
import PanicSimulation

/// Writes a line straight to standard output: the timeline is meant to be watched live, also through a pipe.
@Sendable func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// `panicd sim`: the daemon on the simulated board, driven by a scenario file.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a scenario on the simulated board against a control room, on a virtual clock or in real time.",
        discussion: """
            Prints a timeline (what happened, what the box showed, what the control room saw), then each \
            expectation and the totals. The exit code is 0 only when every expectation held. Scenario files \
            are described in sim/scenarios/README.md.

            --interactive runs in real time and reads keys: press the virtual buttons, cut a wire, pull the \
            network or the power; accept and clear alerts on the control room's page (its address is printed). \
            --controlroom URL sends to an external control room instead of the embedded one. --nmea-pty PATH \
            exposes the simulated receiver's NMEA for gpsd (`gpsd -N -n PATH`). --fleet N runs N boxes at once.
            """
    )

    @Option(
        name: .shortAndLong,
        help: """
            The scenario file (default sim/scenarios/demo.yaml, or interactive.yaml with --interactive: from the \
            source tree when run in one, else the installed /usr/share/panicbridge). With --fleet: `rollout`, a \
            configuration and two updates rolled out in stages, the second a package that never arms.
            """)
    var scenario: String?

    @Flag(help: "Run in real time (the system clock) instead of on the virtual clock.")
    var realtime = false

    @Flag(
        name: .shortAndLong,
        help: "Real time, with keys: press the virtual buttons, cut wires, pull the network (? lists the keys).")
    var interactive = false

    @Option(help: "Port of the embedded control room and its operator page (default: a free one, printed).")
    var port = 0

    @Option(
        name: .customLong("controlroom"),
        help: "Send to this external control room (e.g. http://127.0.0.1:8080 from `controlroom serve`); real time.")
    var controlRoomURL: String?

    @Option(
        name: .customLong("controlroom-key"),
        help: "The external control room's public key: a JWK or raw base64url key, or a file holding one.")
    var controlRoomKey: String?

    @Option(
        name: .customLong("device-key"),
        help: "The device key registered at the external control room (`panicd keygen`, `controlroom devices add`).")
    var deviceKey: String?

    @Option(
        name: .customLong("operator-token"), parsing: .unconditional,
        help: "API token of a desk account at the external control room (`controlroom users add --name N --token`).")
    var operatorToken: String?

    @Option(
        name: .customLong("nmea-pty"),
        help: "Also write the receiver's NMEA to a pseudo-terminal linked from this path (for gpsd or any reader).")
    var nmeaPTY: String?

    @Option(help: "Run a fleet of this many boxes on their own routes and schedules instead of a scenario.")
    var fleet: Int?

    @Option(help: "How long the fleet's schedule runs in virtual time (e.g. 90s, 1m, 10m), before the drain.")
    var duration = "1m"

    @Option(help: "Seeds the fleet's schedule of presses, outages, power cuts, tunnels and server faults.")
    var seed: UInt64 = 1

    @Option(
        help: "Keep the outbox, control-room database and engine state in this directory (default: a temporary one).")
    var keep: String?

    func validate() throws {
        if fleet != nil,
            interactive || controlRoomURL != nil || nmeaPTY != nil || realtime
                || scenario.map({ FleetScenario(rawValue: $0) == nil }) == true
        {
            throw ValidationError(
                "--fleet runs on the virtual clock against the embedded control room: it takes --duration, --seed, "
                    + "--keep and --scenario "
                    + FleetScenario.allCases.map(\.rawValue).joined(separator: "|") + " only")
        }
        if controlRoomURL != nil, deviceKey == nil {
            throw ValidationError(
                "--controlroom needs --device-key: the key file of a device registered there "
                    + "(`panicd keygen --out K`, then `controlroom devices add` with what `panicd identity --key K` prints)"
            )
        }
        if controlRoomURL == nil, controlRoomKey != nil || deviceKey != nil || operatorToken != nil {
            throw ValidationError("--controlroom-key, --device-key and --operator-token go with --controlroom URL")
        }
    }

    func run() async throws {
        if let fleet {
            try await runFleet(devices: fleet)
            return
        }
        // The shipped scenarios: from the source tree when run in one, else the installed share directory.
        let path =
            scenario
            ?? SharedFiles.locate(interactive ? "sim/scenarios/interactive.yaml" : "sim/scenarios/demo.yaml")
        let (parsed, problems) = Scenario.load(path: path)
        guard let parsed else {
            for problem in problems { say("error \(path): \(problem)") }
            throw ExitCode(2)
        }
        var options = Simulator.Options(nmeaLink: nmeaPTY)
        options.pace =
            realtime || interactive || controlRoomURL != nil || parsed.clock == .realtime ? .realtime : .virtual
        if let controlRoomURL, let deviceKey {
            let key: DeviceKey
            do { key = try DeviceKey.load(path: deviceKey) } catch { throw CLIError(error.description) }
            var pinned: DeviceIdentity?
            if let text = controlRoomKey {
                let contents = (try? String(contentsOfFile: text, encoding: .utf8)) ?? text
                // `controlroom identity` prints `jwk: {...}`: take the key from such a line too.
                let candidate =
                    contents.split(separator: "\n").first { $0.hasPrefix("jwk:") }
                    .map { String($0.dropFirst(4)) } ?? contents
                guard let identity = DeviceIdentity(publicKeyText: candidate) else {
                    throw CLIError(
                        "--controlroom-key: neither a JWK nor a base64url Ed25519 key (nor a file holding one)")
                }
                pinned = identity
            }
            options.controlRoom = .external(url: controlRoomURL, controlRoomKey: pinned, deviceKey: key)
            options.operatorToken = operatorToken
            options.deviceKeyFile = deviceKey
        } else {
            options.controlRoom = .embedded(port: port)
        }
        let directory =
            keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("panicd-sim-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }

        // The keys act on the board's inputs, which the simulator loads and checks.
        let keys = interactive ? TerminalKeys() : nil
        defer { keys?.restore() }
        let simulator = try Simulator(
            scenario: parsed, directory: directory, options: options, logger: Logger(label: "panicd.sim"), print: say)

        say("scenario: \(parsed.name)")
        if interactive { say(TerminalKeys.help) }
        let started = ContinuousClock.now
        let controls = keys?.controls(board: simulator.board, say: say)
        let report: Simulator.Report
        do { report = try await simulator.run(controls: controls) } catch let error as SimulationError {
            keys?.restore()
            say("error: \(error)")
            throw ExitCode(1)
        }
        let took = ContinuousClock.now - started
        keys?.restore()

        say("")
        say("expectations:")
        for (text, held) in report.expectations { say("  \(held ? "✔" : "✘") \(text)") }
        let kinds = report.deliveredByKind.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        say(
            "totals: \(report.stored) records stored, \(report.delivered) delivered"
                + (kinds.isEmpty ? "" : " (\(kinds))") + ", "
                + "\(report.undelivered) undelivered, \(report.lost) lost, \(report.duplicates) duplicates, "
                + "\(report.gaps) gaps")
        say(
            "simulated \(Simulator.seconds(report.simulated)) in \(Simulator.seconds(took)) — "
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
            configuration: .init(
                devices: devices, duration: duration, seed: seed, board: SharedFiles.locate("boards/sim.yaml"),
                routes: ["sim/routes/jaipur-jctsl-3a.csv", "sim/routes/indore-aictsl-ibus-5438.csv"].map {
                    SharedFiles.locate($0)
                }, scenario: scenario.flatMap(FleetScenario.init(rawValue:))),
            directory: directory, print: say)
        let report = try await simulator.run()
        let took = ContinuousClock.now - started

        say("")
        for device in report.devices {
            say(
                "  \(device.name) (\(device.route)): \(device.presses) presses, \(device.outages) outages, \(device.powerCuts) power cuts, "
                    + "\(device.stored) stored, \(device.delivered) delivered, \(device.undelivered) undelivered, "
                    + "\(device.lost) lost, \(device.duplicates) duplicates, \(device.resent) resent")
        }
        let reached = report.devices.filter { $0.delivered > 0 }.count
        if !report.rolloutStages.isEmpty {
            say("")
            say("rollout stages:")
            for stage in report.rolloutStages { say("  " + stage) }
            say("rollout audit (pushes: the first of each stage):")
            for entry in report.rolloutAudit { say("  " + entry) }
            say("rollout checks:")
            for (text, held) in report.rolloutChecks { say("  \(held ? "✔" : "✘") \(text)") }
        }
        say("")
        say(
            "fleet: \(report.devices.count) boxes, \(report.presses) presses, \(report.outages) outages, "
                + "\(report.powerCuts) power cuts, \(report.serverFaults) control-room fault bursts "
                + "(\(report.faultsInjected) requests failed or answered into the void); "
                + "\(reached) of \(report.devices.count) boxes delivered records")
        say(
            "totals: \(report.stored) records stored, \(report.delivered) delivered, "
                + "\(report.undelivered) undelivered, \(report.lost) lost, \(report.duplicates) duplicates, "
                + "\(report.resent) resent (answered as duplicate), \(report.rejected) rejected, \(report.gaps) gaps")
        say(
            "alerts: \(report.alertsStored) stored, \(report.alertsDelivered) delivered, \(report.late) late "
                + "(more than 5 s of reachable time — powered, network up — between stored and received); longest such wait "
                + "\(Simulator.seconds(report.longestWait)), longest delivery \(Simulator.seconds(report.longestDelivery))"
        )
        say(
            "simulated \(Simulator.seconds(report.simulated)) (drain included) in \(Simulator.seconds(took)) — "
                + (report.passed ? "PASSED" : "FAILED"))
        if !report.passed { throw ExitCode(1) }
    }
}
