import ArgumentParser
import Foundation
import PanicDaemon

/// `panicd config …`: the daemon's configuration file.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the daemon's configuration file.",
        subcommands: [Check.self]
    )

    /// `panicd config check`: like `sshd -t`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration, its board file and its device key without starting anything.",
            discussion: """
                Prints what the configuration describes on standard output and every problem on standard error \
                (`error: FILE: …`, with line and column for YAML) and every warning there too (`warning: …`: the \
                box would run, but not as a panic box should, e.g. no backend is an alerting authority, so its LED \
                never shows SENT). Exit code 0 when `panicd run` would start, 2 when \
                anything is wrong (the unit's RestartPreventExitStatus). Nothing is opened for writing: no outbox, \
                no GPIO line, no socket.
                """
        )

        @Option(name: .shortAndLong, help: "The configuration file.")
        var config = "/etc/panicbridge/panicd.yaml"

        func run() throws {
            let report = ConfigCheck.run(path: config)
            for line in report.summary { print(line) }
            for warning in report.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            for problem in report.problems {
                FileHandle.standardError.write(Data("error: \(problem)\n".utf8))
            }
            guard report.isValid else {
                FileHandle.standardError.write(Data("\(report.problems.count) problem(s) in \(config)\n".utf8))
                throw ExitCode(2)
            }
            print("ok")
        }
    }
}
