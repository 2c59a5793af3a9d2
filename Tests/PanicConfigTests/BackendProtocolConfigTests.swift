import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("Backend protocols and the box identity in the daemon configuration")
struct BackendProtocolConfigTests {
    static let head = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\n"
    static let roomKey = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

    @Test("three backends, one per protocol, and the identity they share")
    func threeProtocols() throws {
        let yaml =
            Self.head + """
                identity:
                  imei: "490154203237518"
                  vehicle_registration: RJ14PB1234
                  vendor_id: ACME
                backends:
                  - name: control-room
                    url: https://cr.example/v1/records
                    controlroom_key: \(Self.roomKey)
                  - name: state
                    protocol: ais140
                    url: tcp://vlt.example:5001
                  - name: erss
                    protocol: ais140
                    url: tls://erss.example:5002
                    emergency_only: true
                  - name: traccar
                    protocol: osmand
                    url: http://traccar.example:5055/
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        let parsed = try #require(config)
        #expect(parsed.backends.map(\.wire) == [.panicbridge, .ais140, .ais140, .osmand])
        #expect(parsed.backends.map(\.emergencyOnly) == [false, false, true, false])
        #expect(parsed.backends[1].controlRoomKey == nil)
        #expect(
            parsed.identity
                == BoxIdentity(
                    imei: "490154203237518", vehicleRegistration: "RJ14PB1234", vendorID: "ACME",
                    firmwareVersion: PanicBridgeVersion.current))
    }

    @Test("the SMS fallback: port, numbers, the wait")
    func sms() throws {
        let yaml = Self.head + "sms:\n  port: /dev/ttyUSB2\n  numbers: [\"+919812345678\", \"112\"]\n  after: 90s\n"
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        #expect(
            config?.sms
                == DaemonConfig.SMS(
                    port: "/dev/ttyUSB2", baud: 115_200, numbers: ["+919812345678", "112"], after: .seconds(90)))
    }

    @Test("a booth's identity has no registration; vendor and firmware have defaults")
    func boothIdentity() throws {
        let (config, problems) = DaemonConfig.parse(Self.head + "identity:\n  imei: \"353918057284321\"\n")
        #expect(problems.isEmpty, "\(problems)")
        let identity = try #require(config?.identity)
        #expect(identity.vehicleRegistration == nil)
        #expect(identity.registrationField == "353918057284321")
        #expect(identity.vendorID == BoxIdentity.defaultVendorID)
        #expect(identity.firmwareVersion == PanicBridgeVersion.current)
    }

    @Test(
        "a bad protocol or identity names the key and the problem",
        arguments: [
            ("identity:\n  imei: \"49015420323751\"\n", "identity.imei", "15 digits"),
            ("identity:\n  imei: \"490154203237519\"\n", "identity.imei", "Luhn check: its last digit should be 8"),
            ("identity:\n  imei: \"49015420323751x\"\n", "identity.imei", "15 digits"),
            ("identity:\n  vendor_id: ACME\n", "identity.imei", "missing"),
            (
                "identity:\n  imei: \"490154203237518\"\n  vehicle_registration: RJ 14,PB\n",
                "identity.vehicle_registration", "A-Z"
            ),
            ("identity:\n  imei: \"490154203237518\"\n  serial: 7\n", "identity.serial", "unknown"),
            (
                "backends:\n  - name: s\n    protocol: ais140\n    url: tcp://vlt.example:5001\n", "identity.imei",
                "logs in with the IMEI"
            ),
            (
                "identity:\n  imei: \"490154203237518\"\nbackends:\n  - name: s\n    protocol: ais140\n"
                    + "    url: http://vlt.example:5001\n", "backends[0].url", "tcp://host:port"
            ),
            (
                "identity:\n  imei: \"490154203237518\"\nbackends:\n  - name: s\n    protocol: ais140\n"
                    + "    url: tcp://vlt.example\n", "backends[0].url", "tcp://host:port"
            ),
            (
                "backends:\n  - name: t\n    protocol: osmand\n    url: tcp://traccar:5055\n", "backends[0].url",
                "http(s)"
            ),
            (
                "backends:\n  - name: t\n    protocol: osmand\n    url: http://traccar:5055\n"
                    + "    controlroom_key: \(roomKey)\n", "backends[0].controlroom_key", "has no key"
            ),
            (
                "backends:\n  - name: t\n    protocol: osmand\n    url: http://traccar:5055\n    emergency_only: true\n",
                "backends[0].emergency_only", "only an ais140"
            ),
            ("backends:\n  - name: t\n    protocol: gt06\n    url: http://x\n", "backends[0].protocol", "gt06"),
            ("backends:\n  - name: t\n    url: https://x\n", "backends[0].controlroom_key", "missing"),
            ("sms:\n  port: /dev/ttyUSB2\n", "sms.numbers", "at least one number"),
            ("sms:\n  port: /dev/ttyUSB2\n  numbers: [\"+91 98\"]\n", "sms.numbers[0]", "not a phone number"),
            ("sms:\n  numbers: [\"+919812345678\"]\n", "sms.port", "missing"),
        ])
    func badConfigs(tail: String, key: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse(Self.head + tail)
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == key }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }
}
