import PanicConfig
import PanicCore
import PanicDaemon
import Testing

@Suite("panicd config check warns what AIS-140 frames will carry as placeholders")
struct TelemetryWarningTests {
    static let head = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\nidentity:\n  imei: \"490154203237518\"\n"
    static let ais140 = "backends:\n  - name: vlt\n    protocol: ais140\n    url: tcp://vlt.example:5001\n"
    static let gnss = GNSSPortSpec(port: "/dev/panic-gnss", baud: 9600, gpsd: nil)

    func board(supply: SupplySpec?, ignition: Bool) -> BoardDefinition {
        func line(_ name: String, _ role: InputRole, _ offset: Int) -> InputLineSpec {
            InputLineSpec(
                name: name, role: role, chip: "c", line: .offset(offset), contact: .normallyOpen, closedLevel: .low,
                bias: .pullUp)
        }
        var inputs = [line("driver", .emergency, 1)]
        if ignition { inputs.append(line("ign", .ignition, 2)) }
        return BoardDefinition(
            id: "b", model: "B", backend: .gpiod, inputs: inputs, outputs: [], gnss: Self.gnss, supply: supply)
    }

    @Test("an AIS-140 backend on a board without supply monitor, ignition input or modem: one warning each")
    func warnings() throws {
        let config = try #require(DaemonConfig.parse(Self.head + Self.ais140).config)
        let bare = Daemon.telemetryWarnings(config, board: board(supply: nil, ignition: false))
        #expect(bare.count == 3, "\(bare)")
        #expect(bare.contains { $0.contains("no supply: section") && $0.contains("0.0") })
        #expect(bare.contains { $0.contains("no ignition input") })
        #expect(bare.contains { $0.contains("no modem") && $0.contains("signal 99") })
        let withSMS = try #require(
            DaemonConfig.parse(
                Self.head + Self.ais140 + "sms:\n  port: /dev/ttyUSB2\n  numbers: [\"+919812345678\"]\n"
            ).config)
        let full = board(supply: .init(main: .powerSupply(name: "ac")), ignition: true)
        #expect(Daemon.telemetryWarnings(withSMS, board: full).isEmpty)
        // No AIS-140 backend: nothing is sent as a placeholder.
        let none = try #require(DaemonConfig.parse(Self.head).config)
        #expect(Daemon.telemetryWarnings(none, board: board(supply: nil, ignition: false)).isEmpty)
    }
}
