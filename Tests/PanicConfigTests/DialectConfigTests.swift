import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("dialect: an AIS-140 backend's frame layouts (traccar or cdac)")
struct DialectConfigTests {
    static let head = BackendProtocolConfigTests.head + "identity:\n  imei: \"490154203237518\"\n"

    @Test("dialect defaults to traccar; cdac is read per backend")
    func parsed() throws {
        let yaml =
            Self.head + """
                backends:
                  - name: vlt
                    protocol: ais140
                    url: tcp://vlt.example:5001
                  - name: state
                    protocol: ais140
                    url: tcp://state.example:5002
                    dialect: cdac
                  - name: both
                    protocol: ais140
                    url: tcp://both.example:5003
                    dialect: traccar
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        #expect(try #require(config).backends.map(\.dialect) == [.traccar, .cdac, .traccar])
    }

    @Test(
        "a bad dialect is named",
        arguments: [
            (
                "  - name: v\n    protocol: ais140\n    url: tcp://v.example:1\n    dialect: itriangle\n",
                "traccar, cdac"
            ),
            ("  - name: t\n    protocol: osmand\n    url: http://t.example/\n    dialect: cdac\n", "only an ais140"),
        ])
    func bad(backend: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse(Self.head + "backends:\n" + backend)
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == "backends[0].dialect" }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }
}
