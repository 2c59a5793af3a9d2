import ArgumentParser
import ControlRoomKit
import PanicSigning

/// `controlroom evidence`: an alert's evidence for a court (docs/evidence.md).
struct Evidence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evidence bundles of alerts, for an investigating officer and a court.",
        subcommands: [Export.self, Case.self])

    struct Case: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Records an alert's FIR and/or GD numbers (an audit line; they appear on the §63 certificate).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The alert id.")
        var alert: String
        @Option(name: .long, help: "The device id, when the alert id is stored for several devices.")
        var device: String?
        @Option(name: .long, help: "The FIR number.")
        var fir: String?
        @Option(name: .long, help: "The GD (General Diary) entry number.")
        var gd: String?

        func run() async throws {
            let (alert, device, fir, gd) = (alert, device, fir, gd)
            let numbers = try await options.withRoom { room in
                let found = try await room.findAlert(id: alert, device: device)
                return try await room.setCaseNumbers(
                    device: found.device, alert: alert, fir: fir, gd: gd, by: .console)
            }
            print(
                "alert \(alert): FIR \(numbers.fir.isEmpty ? "-" : numbers.fir), GD \(numbers.gd.isEmpty ? "-" : numbers.gd)"
            )
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Exports one alert's evidence: the box's signed records, the chain proof, the device's key, the signed "
                + "audit lines and commands, and a signed manifest (check it with scripts/evidence/verify.py).")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The control room's Ed25519 key file (signs the audit lines and the manifest).")
        var key: String = "controlroom.key"
        @Option(name: .long, help: "The alert id (the emergency record's id).")
        var alert: String
        @Option(name: .long, help: "The device id, when the alert id is stored for several devices.")
        var device: String?
        @Option(name: .long, help: "Seconds of the device's records before the press to include.")
        var before: Int = 600
        @Option(name: .long, help: "Where to write: a new directory, or FILE.tar.")
        var out: String
        @Option(name: .long, help: "RFC 3161 time-stamping authority (http/https URL) to timestamp the manifest.")
        var tsaURL: String?

        func run() async throws {
            guard before >= 0 else { throw ValidationError("--before must be 0 or more seconds, got \(before)") }
            let signingKey = try DeviceKey.load(path: key)
            try DeskOptions.checkTSA(tsaURL)
            let (alert, device, before, out) = (alert, device, before, out)
            var timestamp: EvidenceTimestamper?
            if let tsaURL {
                let authority = TimeStampAuthority(url: tsaURL)
                timestamp = { data in try await authority.timestamp(data) }
            }
            let stamp = timestamp
            let bundle = try await options.withRoom(key: signingKey) { room in
                try await room.exportEvidence(
                    alert: alert, device: device, before: .seconds(before), by: .console, timestamp: stamp)
            }
            try bundle.write(to: out)
            print("wrote \(out): \(bundle.allFiles.count) files")
        }
    }
}
