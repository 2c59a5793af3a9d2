import Foundation
import Testing

extension CLISuite {
    /// The scenario suite: every scenario shipped in sim/scenarios runs end to end through `panicd sim` (simulated
    /// board, real SQLite outbox, real HTTP on loopback to the embedded control room, virtual clock) and its own
    /// expectations must hold.
    @Suite("Scenario suite (panicd sim)", .serialized)
    struct ScenarioSuiteTests {
        let panicd = Executable("panicd")

        static let scenarios = [
            "demo", "power-cut-during-emergency", "power-cut-after-accept", "six-hour-outage", "faults",
            "three-backends", "sms-fallback", "telemetry", "field-truth",
        ]

        @Test("each shipped scenario passes", arguments: scenarios)
        func scenarioPasses(name: String) throws {
            let output = try panicd.run(["sim", "--scenario", "sim/scenarios/\(name).yaml"])
            #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
            #expect(output.stdout.contains("PASSED"))
            #expect(output.stdout.contains("0 lost, 0 duplicates, 0 gaps"))
            #expect(!output.stdout.contains("✘"))
        }

        @Test("AIS-140 frames carry the simulated modem's signal, operator and cells and the simulated supply")
        func telemetryInFrames() throws {
            let output = try panicd.run(["sim", "--scenario", "sim/scenarios/telemetry.yaml"])
            #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
            let line = try #require(
                output.stdout.split(separator: "\n").first { $0.contains("with the modem's signal/operator/cell") },
                "\(output.stdout)")
            // Every tracking frame after the first reading: none without the modem's cell or the supply voltage.
            #expect(
                !line.contains(" 0 frames with the modem's") && !line.contains(" 0 with the supply voltage"), "\(line)")
        }

        @Test("the demo tells the story: outage, stored, delivered on reconnect, accepted, help on the way")
        func demoStory() throws {
            let output = try panicd.run(["sim"])
            let story = [
                "network DOWN", "signed and stored", "STORED (fast blink)", "network up",
                "control room: emergency received",
                "operator accepts the emergency", "HELP IS ON THE WAY",
            ]
            var rest = Substring(output.stdout)
            for step in story {
                let found = try #require(
                    rest.range(of: step), "'\(step)' missing or out of order in:\n\(output.stdout)")
                rest = rest[found.upperBound...]
            }
        }

        @Test("an expectation that does not hold fails the run with exit code 1")
        func failingExpectation() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let root = Executable.repositoryRoot.path
            let file = directory.appendingPathComponent("impossible.yaml")
            try """
            name: Accepted while the network is still down (cannot happen)
            board: \(root)/boards/sim.yaml
            route: \(root)/sim/routes/jaipur-jctsl-3a.csv
            duration: 3m
            operator:
              accept_after: 2s
            timeline:
              - at: 10s
                network: down
              - at: 20s
                press: driver-emergency
            expect:
              - milestone: accepted
                after: press
                within: 1m
            """.write(to: file, atomically: true, encoding: .utf8)
            let output = try panicd.run(["sim", "--scenario", file.path])
            #expect(output.status == 1, "\(output.stdout)")
            #expect(output.stdout.contains("✘ accepted within 60 s of every press: never happened"))
            #expect(output.stdout.contains("FAILED"))
        }

        @Test("a malformed scenario is refused with the key named, exit code 2")
        func malformedScenario() throws {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).yaml")
            defer { try? FileManager.default.removeItem(at: file) }
            try "name: x\nboard: b\nroute: r\nduration: 1m\ntimeline:\n  - at: 10s\n    presss: driver\n".write(
                to: file, atomically: true, encoding: .utf8)
            let output = try panicd.run(["sim", "--scenario", file.path])
            #expect(output.status == 2)
            #expect(output.stdout.contains("timeline[0].presss: unknown key 'presss' (did you mean 'press'?)"))
        }
    }
}
