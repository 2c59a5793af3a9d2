import ArgumentParser
import Foundation
import PanicSimulation

/// `panicd chaos-proxy`: a loopback proxy between a box and its control room that injects the network's and the
/// server's failures (docs/simulator.md → Chaos proxy). For bench and CI rigs, never for a fitted box.
struct ChaosProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos-proxy",
        abstract: "Proxy box → control room over loopback, failing requests with 500s, resets, delays, lost answers.",
        discussion: """
            Prints `listening on HOST:PORT`, then one line per request: its number, its fault and the control \
            room's status (`request 7 drop: upstream 200` = stored at the control room, answer lost). Faults: \
            500 (not forwarded), reset (RST before forwarding), delay (forwarded, answered after --delay), drop \
            (forwarded, then RST). Seeded: the same --seed gives the same faults in the same order.
            """)

    @Option(help: "Address to listen on, HOST:PORT (port 0: any free port).")
    var listen = "127.0.0.1:0"

    @Option(help: "The control room's base URL, e.g. http://127.0.0.1:8080.")
    var upstream: String

    @Option(help: "Comma-separated faults to draw from: 500, reset, delay, drop.")
    var faults = "500,reset,delay,drop"

    @Option(help: "Share of requests that get a fault, 0 to 1.")
    var rate = 0.5

    @Option(help: "Fault only this many requests, then pass everything.")
    var budget: Int?

    @Option(help: "How long a delayed answer is held, in milliseconds (make it longer than the box's timeout).")
    var delay = 1500

    @Option(help: "Seed of the fault schedule.")
    var seed: UInt64 = 1

    func run() async throws {
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        var chosen: [ChaosFault] = []
        for name in faults.split(separator: ",") {
            guard let fault = ChaosFault(rawValue: String(name)), fault != .pass else {
                throw ValidationError("unknown fault '\(name)' (give 500, reset, delay or drop)")
            }
            chosen.append(fault)
        }
        guard (0...1).contains(rate) else { throw ValidationError("--rate must be between 0 and 1, got \(rate)") }
        guard upstream.hasPrefix("http://") else { throw ValidationError("--upstream must be an http:// URL") }
        let proxy = ChaosProxy(
            host: String(parts[0]), port: port, upstream: upstream,
            schedule: ChaosSchedule(faults: chosen, rate: rate, budget: budget, seed: seed),
            delay: .milliseconds(delay))
        try await proxy.run(
            onListening: { say("listening on \(parts[0]):\($0)") }, report: { say($0.description) })
    }
}
