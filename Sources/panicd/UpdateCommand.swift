import ArgumentParser
import Foundation
import Logging
import PanicDaemon

/// `panicd update`: software updates (docs/updates.md).
struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Software updates from the control room: the root install agent.",
        subcommands: [Install.self])

    /// `panicd update install`: the root oneshot `panicbridge-update.service` runs when panicd spools an update.
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Checks a spooled update again (signature, device, expiry, version, floor, architecture, size, \
                SHA-256), installs it with dpkg, restarts panicd and rolls back by itself when the new panicd does \
                not prove healthy in time. Needs root. Exit code 0 when installed or nothing was spooled, 1 when \
                refused, rolled back or failed.
                """)
        @Option(name: .shortAndLong, help: "The local configuration (pinned keys, device key, outbox, status socket).")
        var config: String = "/etc/panicbridge/panicd.yaml"
        @Option(name: .long, help: "The agent's own directory (floor, rollback package).")
        var state: String = UpdateAgentState.defaultDirectory
        @Option(name: .long, help: "Seconds the new panicd has to be armed and deliver to a backend.")
        var healthTimeout: Int = 300
        @Option(
            name: .long,
            help: "The command restarting panicd, run with /bin/sh -c (default: systemctl restart panicd.service).")
        var restartCommand: String?

        func run() throws {
            guard healthTimeout > 0 else { throw ValidationError("--health-timeout must be positive") }
            LoggingSystem.bootstrap { StreamLogHandler.standardOutput(label: $0) }
            var options = UpdateAgent.Options(configPath: config)
            options.stateDirectory = state
            options.healthTimeout = .seconds(healthTimeout)
            if let restartCommand { options.restartCommand = ["/bin/sh", "-c", restartCommand] }
            let outcome = try UpdateAgent(options: options, logger: Logger(label: "panicd-update")).run()
            print("panicd update: \(outcome)")
            switch outcome {
            case .nothingSpooled, .installed: return
            case .refused, .rolledBack, .failed: throw ExitCode(1)
            }
        }
    }
}
