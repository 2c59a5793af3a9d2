import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("send_help: a backend may be told not to get help requests")
struct SendHelpConfigTests {
    static let head = BackendProtocolConfigTests.head + "identity:\n  imei: \"490154203237518\"\n"

    @Test("send_help defaults to true and can be turned off for ais140 and osmand backends")
    func parsed() throws {
        let yaml =
            Self.head + """
                backends:
                  - name: vlt
                    protocol: ais140
                    url: tcp://vlt.example:5001
                  - name: erss
                    protocol: ais140
                    url: tcp://erss.example:5002
                    emergency_only: true
                    send_help: false
                  - name: traccar
                    protocol: osmand
                    url: http://traccar.example:5055/
                    send_help: false
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        #expect(try #require(config).backends.map(\.sendHelp) == [true, false, false])
    }

    @Test(
        "a bad send_help is named",
        arguments: [
            (
                "  - name: cr\n    url: https://cr.example/\n    controlroom_key: \(BackendProtocolConfigTests.roomKey)\n"
                    + "    send_help: false\n", "send_help is for ais140 and osmand"
            ),
            (
                "  - name: t\n    protocol: osmand\n    url: http://t.example/\n    send_help: maybe\n",
                "expected true or false"
            ),
        ])
    func bad(backend: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse(Self.head + "backends:\n" + backend)
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == "backends[0].send_help" }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }
}
