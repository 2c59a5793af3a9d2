import ArgumentParser
import Dispatch
import PanicCore

#if canImport(Glibc)
    import Glibc
#endif

/// The entry point. `panicd run` starts from a synchronous `main` and never touches libdispatch, so an idle box
/// does not pay libdispatch's once-a-second worker-pool monitor (docs/daemon.md → One thread, and an idle that
/// sleeps); every other command runs as an async command would under an async `main`.
@main
enum PanicdMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let command: any ParsableCommand
        do { command = try Panicd.parseAsRoot(arguments) } catch { Panicd.exit(withError: error) }
        if let command = command as? RunCommand {
            do { try command.run() } catch { Panicd.exit(withError: error) }
            return
        }
        // Parsed again inside, exactly as an async `main` would run it (help, errors and exit codes included).
        Task {
            await Panicd.main(arguments)
            exit(0)
        }
        dispatchMain()
    }
}

/// `panicd`: the panic-box daemon and the installer's tools around it.
struct Panicd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panicd",
        abstract: "PanicBridge panic-box daemon: buttons and GNSS in, signed alerts out to the control room.",
        version: PanicBridgeVersion.current,
        subcommands: [
            BoardsCommand.self, InputsCommand.self, GNSSCommand.self, KeygenCommand.self, IdentityCommand.self,
            VerifyCommand.self, OutboxCommand.self, SimCommand.self, RunCommand.self, ConfigCommand.self,
            StatusCommand.self, ChaosProxyCommand.self, UpdateCommand.self,
        ]
    )
}
