import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("Scenario files")
struct ScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../sim/scenarios").standardized

    @Test("every shipped scenario parses, with its board and route resolved")
    func shippedScenarios() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter {
            $0.hasSuffix(".yaml")
        }
        #expect(files.count >= 4)
        for file in files {
            let (scenario, problems) = Scenario.load(path: Self.directory.appendingPathComponent(file).path)
            #expect(problems.isEmpty, "\(file): \(problems)")
            let parsed = try #require(scenario)
            #expect(FileManager.default.fileExists(atPath: parsed.board), "\(parsed.board)")
            #expect(FileManager.default.fileExists(atPath: parsed.route), "\(parsed.route)")
            #expect(!parsed.expectations.isEmpty)
        }
    }

    @Test("a scenario names other backends and the identity with the daemon configuration's keys")
    func backends() throws {
        let (scenario, problems) = Scenario.load(
            path: Self.directory.appendingPathComponent("three-backends.yaml").path)
        #expect(problems.isEmpty, "\(problems)")
        let parsed = try #require(scenario)
        #expect(parsed.backends.map(\.name) == ["vlt", "vlt-cdac", "erss", "traccar"])
        #expect(parsed.backends.map(\.wire) == [.ais140, .ais140, .ais140, .osmand])
        #expect(parsed.backends.map(\.emergencyOnly) == [false, false, true, false])
        #expect(parsed.backends.map(\.dialect) == [.traccar, .cdac, .traccar, .traccar])
        #expect(parsed.expectations.contains(.ais140LoginsPerSession))
        #expect(parsed.identity?.imei == "490154203237518")
        let bad = "name: x\nboard: b\nroute: r\nduration: 1m\nbackends:\n  - name: v\n    protocol: ais140\n"
        let (none, refused) = Scenario.parse(bad)
        #expect(none == nil)
        #expect(refused.contains { $0.key == "identity.imei" }, "\(refused)")
    }

    @Test("the demo's timeline and expectations read as written")
    func demoContents() throws {
        let (scenario, _) = Scenario.load(path: Self.directory.appendingPathComponent("demo.yaml").path)
        let demo = try #require(scenario)
        #expect(demo.duration == .seconds(1200))
        #expect(demo.operatorAcceptAfter == .seconds(4))
        #expect(demo.steps.first == .init(at: .seconds(120), action: .network(up: false)))
        #expect(
            demo.steps.contains(
                .init(at: .seconds(180), action: .press(input: "driver-emergency", hold: .milliseconds(800)))))
        #expect(demo.expectations.contains(.within(milestone: .delivered, within: .seconds(5), after: .networkUp)))
        #expect(demo.expectations.contains(.lost(0)))
    }

    @Test(
        "compound offsets parse; nonsense does not",
        arguments: [("2m30s", 150_000), ("1h5m", 3_900_000), ("750ms", 750), ("0s", 0)])
    func offsets(text: String, milliseconds: Int64) {
        #expect(Scenario.parseOffset(text)?.milliseconds == milliseconds)
    }

    @Test("bad offsets are rejected", arguments: ["", "10", "5x", "m5"])
    func badOffsets(text: String) {
        #expect(Scenario.parseOffset(text) == nil)
    }

    @Test(
        "broken scenarios name the key",
        arguments: [
            ("  - at: 10s\n    press: a\n    network: up\n", "timeline[0]", "exactly one action"),
            ("  - at: 10s\n    network: sideways\n", "timeline[0].network", "neither 'up' nor 'down'"),
            ("  - at: 20s\n    network: up\n  - at: 10s\n    network: down\n", "timeline[1].at", "time order"),
            ("  - press: a\n", "timeline[0].at", "missing"),
            ("  - at: soon\n    press: a\n", "timeline[0].at", "not a time"),
        ])
    func brokenTimeline(timeline: String, key: String, message: String) throws {
        let (scenario, problems) = Scenario.parse("name: x\nboard: b\nroute: r\nduration: 1h\ntimeline:\n" + timeline)
        #expect(scenario == nil)
        let problem = try #require(problems.first { $0.key == key }, "\(problems)")
        #expect(problem.message.contains(message))
    }

    @Test("a timeline longer than the scenario is refused")
    func pastTheEnd() {
        let (scenario, problems) = Scenario.parse(
            "name: x\nboard: b\nroute: r\nduration: 1m\ntimeline:\n  - at: 2m\n    network: down\n")
        #expect(scenario == nil)
        #expect(problems.first?.key == "duration")
    }
}
