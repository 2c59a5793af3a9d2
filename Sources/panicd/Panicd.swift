import ArgumentParser
import PanicCore

/// `panicd`: the panic-box daemon and the installer's tools around it.
@main
struct Panicd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panicd",
        abstract: "PanicBridge panic-box daemon: buttons and GNSS in, signed alerts out to the control room.",
        version: PanicBridgeVersion.current,
        subcommands: [
            BoardsCommand.self, InputsCommand.self, GNSSCommand.self, KeygenCommand.self, IdentityCommand.self,
            VerifyCommand.self, OutboxCommand.self, SimCommand.self, RunCommand.self, ConfigCommand.self,
            StatusCommand.self, ChaosProxyCommand.self,
        ]
    )
}
