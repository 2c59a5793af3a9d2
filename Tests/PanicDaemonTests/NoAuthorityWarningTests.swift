import PanicConfig
import PanicDaemon
import Testing

@Suite("panicd warns about a box no alerting authority hears")
struct NoAuthorityWarningTests {
    static let head = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\n"

    @Test("only a tracking server: a warning naming it (the LED never shows SENT); with the control room, none")
    func warning() throws {
        let tracking =
            Self.head + "backends:\n  - name: traccar\n    protocol: osmand\n    url: http://traccar.example:5055/\n"
        let config = try #require(DaemonConfig.parse(tracking).config)
        let warning = try #require(Daemon.noAuthorityWarning(config))
        #expect(warning.contains("no backend is an alerting authority (traccar: tracking only)"), "\(warning)")
        #expect(warning.contains("never shows SENT"))
        let withRoom =
            tracking
            + "  - name: cr\n    url: https://cr.example/v1/records\n"
            + "    controlroom_key: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n"
        #expect(Daemon.noAuthorityWarning(try #require(DaemonConfig.parse(withRoom).config)) == nil)
    }
}
