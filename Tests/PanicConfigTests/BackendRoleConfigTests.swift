import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("Backend roles in the daemon configuration: which acknowledgement means the police have the alert")
struct BackendRoleConfigTests {
    static let head = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\nidentity:\n  imei: \"490154203237518\"\n"
    static let roomKey = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

    @Test("defaults: the PanicBridge control room is the authority, AIS-140 and OsmAnd are tracking")
    func defaults() throws {
        let yaml =
            Self.head + """
                backends:
                  - name: control-room
                    url: https://cr.example/v1/records
                    controlroom_key: \(Self.roomKey)
                  - name: state
                    protocol: ais140
                    url: tcp://vlt.example:5001
                  - name: traccar
                    protocol: osmand
                    url: http://traccar.example:5055/
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        let parsed = try #require(config)
        #expect(parsed.backends.map(\.effectiveRole) == [.authority, .tracking, .tracking])
        #expect(parsed.authorityBackends == ["control-room"])
    }

    @Test("a state AIS-140 backend can be made the authority; a PanicBridge server a tracking one")
    func configured() throws {
        let yaml =
            Self.head + """
                backends:
                  - name: analytics
                    url: https://fleet.example/v1/records
                    controlroom_key: \(Self.roomKey)
                    role: tracking
                  - name: erss
                    protocol: ais140
                    url: tls://erss.example:5002
                    role: authority
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        #expect(try #require(config).authorityBackends == ["erss"])
    }

    @Test("an OsmAnd server as authority, or an unknown role, is refused with the reason")
    func refused() {
        let yaml =
            Self.head + """
                backends:
                  - name: traccar
                    protocol: osmand
                    url: http://traccar.example:5055/
                    role: authority
                  - name: other
                    protocol: osmand
                    url: http://traccar.example:5055/
                    role: police
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(config == nil)
        let text = problems.map(\.description).joined(separator: "\n")
        #expect(text.contains("backends[0].role") && text.contains("cannot be the alerting authority"), "\(text)")
        #expect(text.contains("backends[1].role") && text.contains("'police' is not one of: authority, tracking"))
    }

    @Test("a configuration with only tracking servers has no authority")
    func trackingOnly() throws {
        let yaml =
            Self.head + """
                backends:
                  - name: traccar
                    protocol: osmand
                    url: http://traccar.example:5055/
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        #expect(try #require(config).authorityBackends.isEmpty)
    }
}
