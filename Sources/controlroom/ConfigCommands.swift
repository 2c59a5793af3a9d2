import ArgumentParser
import ControlRoomKit
import Foundation
import PanicSigning

/// `controlroom config`: remote configuration of boxes (docs/configuration.md → *Remote configuration*).
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Remote configuration of boxes: signed, versioned, expiring documents.",
        subcommands: [Push.self])

    /// `controlroom config push --device ID --file F`: signs the document with the control room's key and queues
    /// it for the device's next answer, audited (`config-push`, user `console`).
    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Signs a configuration overlay (YAML: the remotely settable keys of panicd.yaml) for one device "
                + "and queues it; prints the version.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The control room's Ed25519 key file (made by `controlroom keygen`).")
        var key: String = "controlroom.key"
        @Option(name: .long, help: "The device id.")
        var device: String
        @Option(name: .long, help: "The overlay: a YAML file of backends, sms, rates, privacy_mode, log_level.")
        var file: String
        @Option(name: .long, help: "How long the document stays valid, in hours (the box refuses it after).")
        var hours: Int = 168

        func run() async throws {
            guard hours > 0 else { throw ValidationError("--hours must be positive") }
            guard let settings = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read \(file)")
            }
            let signingKey = try DeviceKey.load(path: key)
            let (device, lifetime) = (device, Duration.seconds(hours * 3600))
            let issued = try await options.withRoom(key: signingKey) { room in
                try await room.pushConfig(
                    device: device, settings: settings, lifetime: lifetime, by: .console, reason: "file \(file)")
            }
            print(
                "queued configuration version \(issued.document.version) for \(device), expires \(issued.document.expires)"
            )
        }
    }
}
