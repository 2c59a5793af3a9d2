import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicDaemon

/// `panicd run`: the daemon on a board, as systemd runs it.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the panic box from a configuration file until SIGTERM (what the systemd unit starts).",
        discussion: """
            Logs go to standard error (journald keeps them under systemd). A bad configuration prints every \
            problem with its line and column and exits 2; a board, key or outbox that cannot be used exits 1. \
            See docs/daemon.md and docs/configuration.md.
            """
    )

    @Option(name: .shortAndLong, help: "The configuration file.")
    var config = "/etc/panicbridge/panicd.yaml"

    func run() async throws {
        let (parsed, problems) = DaemonConfig.load(path: config)
        guard let parsed else {
            for problem in problems { FileHandle.standardError.write(Data("error \(config): \(problem)\n".utf8)) }
            throw ExitCode(2)
        }
        var logger = Logger(label: "panicd") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: parsed.logLevel) ?? .info
        do {
            let daemon = try Daemon(config: parsed, logger: logger)
            try await daemon.run()
        } catch let error as DaemonError {
            logger.critical("cannot run: \(error)")
            throw ExitCode(1)
        }
    }
}
