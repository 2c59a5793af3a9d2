import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicDaemon

/// `panicd run`: the daemon on a board, as systemd runs it.
/// Synchronous (`PanicdMain` runs it without an async `main`): see `Daemon.runBlocking()`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the panic box from a configuration file until SIGTERM (what the systemd unit starts).",
        discussion: """
            Logs go to standard error; under systemd each line starts with its journald priority (<3> error … \
            <7> debug) and has no timestamp of its own. A bad configuration prints every \
            problem with its line and column and exits 2; a board, key or outbox that cannot be used exits 1. \
            See docs/daemon.md and docs/configuration.md.
            """
    )

    @Option(name: .shortAndLong, help: "The configuration file.")
    var config = "/etc/panicbridge/panicd.yaml"

    func run() throws {
        let (parsed, problems) = DaemonConfig.load(path: config)
        guard let parsed else {
            for problem in problems { FileHandle.standardError.write(Data("error \(config): \(problem)\n".utf8)) }
            throw ExitCode(2)
        }
        // Under systemd, lines carry their journald priority and no timestamp of their own.
        let journal = JournalLogHandler.standardErrorIsJournal(environment: ProcessInfo.processInfo.environment)
        var logger = Logger(label: "panicd") { label -> any LogHandler in
            journal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = Logger.Level(rawValue: parsed.logLevel) ?? .info
        do {
            let daemon = try Daemon.withRemoteConfig(local: parsed, path: config, logger: logger)
            try daemon.runBlocking()
            if let reason = daemon.restart.requested {
                // systemd (Restart=always) starts the daemon again on the new configuration.
                logger.notice("exiting to restart", metadata: ["reason": "\(reason)"])
                throw ExitCode(RestartRequest.exitCode)
            }
        } catch let error as DaemonError {
            logger.critical("cannot run: \(error)")
            throw ExitCode(1)
        }
    }
}
