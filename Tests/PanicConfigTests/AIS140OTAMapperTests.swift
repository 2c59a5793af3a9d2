import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("AIS-140 OTA: commands mapped to the signed document's overlay and merge")
struct AIS140OTAMapperTests {
    static let text =
        BackendProtocolConfigTests.head + """
            identity:
              imei: "490154203237518"
              vehicle_registration: RJ14PB1234
            rates:
              position: 60s
              health: 300s
            backends:
              - name: control-room
                url: https://room.example/v1/records
                controlroom_key: \(BackendProtocolConfigTests.roomKey)
              - name: state
                protocol: ais140
                url: tcp://erss.example:5001
              - name: vendor
                protocol: ais140
                url: tls://vlt.example:6001
            """

    static func command(_ text: String) throws -> AIS140.OTA.Command { try AIS140.OTA.parse(text).get() }

    static func change(_ text: String) throws -> AIS140OTAMapper.Change {
        guard case .change(let change) = try AIS140OTAMapper.map(command(text), currentText: Self.text).get() else {
            throw AIS140OTAMapper.Refusal("not a change")
        }
        return change
    }

    @Test("SET PIP/PPT moves the first ais140 backend, SIP/SPT the second; the control room keeps its pinned key")
    func servers() throws {
        let moved = try Self.change("SET PIP:10.1.2.3,PPT:5999")
        #expect(
            moved.config.backends.map(\.url.absoluteString) == [
                "https://room.example/v1/records", "tcp://10.1.2.3:5999", "tls://vlt.example:6001",
            ])
        #expect(moved.config.backends[0].controlRoomKey == BackendProtocolConfigTests.roomKey)
        #expect(!moved.overlay.contains("controlroom_key"))
        let secondary = try Self.change("SET SIP:backup.example")
        #expect(secondary.config.backends[2].url.absoluteString == "tls://backup.example:6001")
    }

    @Test("SET UR/URE/URH/ED set rates in their AIS-140 units (seconds, seconds, minutes, minutes)")
    func rates() throws {
        let changed = try Self.change("SET UR:30,URE:5,URH:10,ED:45")
        #expect(changed.config.rates.position == .seconds(30))
        #expect(changed.config.rates.emergencyPosition == .seconds(5))
        #expect(changed.config.rates.health == .seconds(600))
        #expect(changed.config.rates.emergencyTrackingAfter == .seconds(45 * 60))
        #expect(changed.values.map(\.value) == ["30", "5", "10", "45"])
    }

    @Test("GET reads the effective configuration")
    func get() throws {
        guard
            case .read(let values) = try AIS140OTAMapper.map(
                Self.command("GET PIP,PPT,SIP,SPT,UR,URH,VN"), currentText: Self.text
            ).get()
        else { throw AIS140OTAMapper.Refusal("not a read") }
        #expect(values.map(\.value) == ["erss.example", "5001", "vlt.example", "6001", "60", "5", "RJ14PB1234"])
    }

    @Test("CLR EO asks to clear the emergency")
    func emergencyOff() throws {
        guard case .clearEmergency = try AIS140OTAMapper.map(Self.command("CLR EO"), currentText: Self.text).get()
        else { throw AIS140OTAMapper.Refusal("not a clear") }
    }

    @Test(
        "what a signed document could not set, or the config check refuses, is refused with the reason",
        arguments: [
            ("SET VN:RJ14PB9999", "set on the box only"),
            ("SET APN:airtelgprs.com", "operating system"),
            ("SET SL:60", "no overspeed"),
            ("SET UR:5,URE:30", "must not be slower than the normal position rate"),
            ("SET UR:30,EO", "must be sent alone"),
        ])
    func refused(text: String, reason: String) throws {
        guard case .failure(let refusal) = try AIS140OTAMapper.map(Self.command(text), currentText: Self.text) else {
            Issue.record("\(text) accepted")
            return
        }
        #expect(refusal.description.contains(reason), "\(refusal)")
    }

    @Test("a box without a second ais140 backend refuses SIP")
    func noSecondary() throws {
        let single = Self.text.replacingOccurrences(
            of: "  - name: vendor\n    protocol: ais140\n    url: tls://vlt.example:6001", with: "")
        let result = try AIS140OTAMapper.map(Self.command("SET SIP:1.2.3.4"), currentText: single)
        guard case .failure(let refusal) = result else {
            Issue.record("accepted")
            return
        }
        #expect(refusal.description.contains("no second (secondary) ais140 backend"), "\(refusal)")
    }

    @Test("ota, ota_emergency_off and ota_pin are read for an ais140 backend")
    func otaKeys() throws {
        let text = Self.text.replacingOccurrences(
            of: "    url: tcp://erss.example:5001\n",
            with:
                "    url: tcp://erss.example:5001\n    ota: true\n    ota_emergency_off: true\n    ota_pin: \"4711\"\n")
        let (config, problems) = DaemonConfig.parse(text)
        #expect(problems.isEmpty, "\(problems)")
        let state = try #require(config?.backends.first { $0.name == "state" })
        #expect(state.ota && state.otaEmergencyOff && state.otaPIN == "4711")
        let vendor = try #require(config?.backends.first { $0.name == "vendor" })
        #expect(!vendor.ota && !vendor.otaEmergencyOff && vendor.otaPIN == nil)
    }

    @Test(
        "bad OTA keys are refused by the config check, naming the key",
        arguments: [
            ("    url: tcp://erss.example:5001\n", "    ota_pin: \"12\"\n", "backends[1].ota_pin", "4 to 16 letters"),
            ("    url: tcp://erss.example:5001\n", "    ota: yes please\n", "backends[1].ota", "true or false"),
            (
                "    url: https://room.example/v1/records\n", "    ota: true\n", "backends[0].ota",
                "only an ais140 backend"
            ),
        ])
    func badOTAKeys(after: String, line: String, key: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse(Self.text.replacingOccurrences(of: after, with: after + line))
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == key }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }
}
