import Foundation
import Testing

extension CLISuite {
    @Suite("panicd sim --fleet")
    struct FleetTests {
        let panicd = Executable("panicd")

        /// The number in `text` just before `label` (e.g. `12` in "12 lost").
        func count(_ label: String, in text: String) -> Int? {
            guard let range = text.range(of: " " + label) else { return nil }
            let digits = text[..<range.lowerBound].reversed().prefix { $0.isNumber }
            return Int(String(digits.reversed()))
        }

        @Test("fifty boxes through a minute of presses, outages, power cuts and server faults: nothing lost or twice")
        func fiftyBoxesForAMinute() throws {
            let wall = ContinuousClock()
            let began = wall.now
            let output = try panicd.run(["sim", "--fleet", "50", "--duration", "1m", "--seed", "7"])
            let took = began.duration(to: wall.now)
            #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
            // A progress line at least every 3 s of wall time: virtual time reached, records delivered so far.
            let progress = output.stdout.split(separator: "\n").filter { $0.hasPrefix("progress: ") }
            // (Setup and the final drain print none; the timeline, most of the run, does.)
            if took > .seconds(8) { #expect(!progress.isEmpty, "\(took): \(output.stdout)") }
            #expect(
                progress.allSatisfy {
                    $0.contains(" of 0:01:00 simulated, ") && $0.hasSuffix(" records delivered so far")
                },
                "\(progress)")
            let totals = try #require(output.stdout.split(separator: "\n").first { $0.hasPrefix("totals:") })
            let text = String(totals)
            #expect(text.contains(" 0 lost,"), "\(text)")
            #expect(text.contains(" 0 duplicates,"), "\(text)")
            #expect(text.contains(" 0 undelivered,"), "\(text)")
            #expect(text.contains(" 0 gaps"), "\(text)")
            let stored = try #require(count("records stored", in: text))
            let delivered = try #require(count("delivered", in: text))
            #expect(delivered > 0)
            #expect(delivered == stored)
            #expect(output.stdout.contains("50 of 50 boxes delivered records"), "\(output.stdout)")
            // Every box was pressed at least once and every one of those alerts arrived.
            let alerts = try #require(output.stdout.split(separator: "\n").first { $0.hasPrefix("alerts:") })
            let alertsStored = try #require(count("stored", in: String(alerts)))
            #expect(alertsStored >= 50)
            #expect(count("delivered", in: String(alerts)) == alertsStored, "\(alerts)")
            // The schedule exercised the faults: power cuts, control-room errors and lost answers (so resends).
            let fleet = try #require(output.stdout.split(separator: "\n").first { $0.hasPrefix("fleet:") })
            #expect(try #require(count("power cuts", in: String(fleet))) > 0, "\(fleet)")
            #expect(
                try #require(count("requests failed", in: String(fleet).replacingOccurrences(of: "(", with: " "))) > 0)
            #expect(try #require(count("resent", in: text)) > 0, "\(text)")
            let perBox = output.stdout.split(separator: "\n").filter { $0.hasPrefix("  bus-") }
            #expect(perBox.count == 50)
            #expect(perBox.allSatisfy { !$0.contains(" 0 delivered") }, "\(perBox)")
        }

        @Test(
            "twenty boxes: a config and an update roll out in stages; a package that never arms pauses its rollout at stage 1, its boxes roll back by themselves, later boxes never get it, every alert arrives by identity"
        )
        func rolloutScenario() throws {
            let output = try panicd.run(["sim", "--fleet", "20", "--scenario", "rollout", "--seed", "5"])
            #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
            let lines = output.stdout.split(separator: "\n").map(String.init)
            let stages = lines.filter { $0.hasPrefix("  rollout ") }
            // 20 boxes in stages of 10, 50, 100 %: 2, 8 and 10 boxes.
            for (index, devices) in [2, 8, 10].enumerated() {
                let config = try #require(
                    stages.first { $0.hasPrefix("  rollout 1 (config") && $0.contains("stage \(index + 1) of 3") })
                #expect(
                    config.contains(": \(devices) devices, \(devices) healthy, 0 failed, 0 rolled back — settled"),
                    "\(config)")
                let update = try #require(
                    stages.first {
                        $0.hasPrefix("  rollout 2 (update 0.9.1)") && $0.contains("stage \(index + 1) of 3")
                    })
                #expect(
                    update.contains(": \(devices) devices, \(devices) healthy, 0 failed, 0 rolled back — settled"),
                    "\(update)")
            }
            let broken = stages.filter { $0.hasPrefix("  rollout 3 (update 0.9.2") }
            #expect(broken.count == 1, "\(broken)")
            // Paused at the first failure (0 % allowed): the other stage-1 box may still be on its agent's trial.
            #expect(broken.first?.contains("stage 1 of 3: 2 devices, 0 healthy, ") == true, "\(broken)")
            #expect(broken.first?.contains(" rolled back — paused") == true, "\(broken)")
            #expect(
                lines.contains { $0.hasSuffix("paused by itself at stage 1: 18 devices of later stages never pushed") })
            // Every stage's delivery audit: nothing the boxes committed is missing at the control room.
            #expect(stages.allSatisfy { $0.hasSuffix(" 0 lost") }, "\(stages)")
            let checks = lines.drop { $0 != "rollout checks:" }.dropFirst().prefix { $0.hasPrefix("  ") }
            #expect(checks.count == 8 && checks.allSatisfy { $0.hasPrefix("  ✔") }, "\(checks)")
            #expect(checks.contains { $0.contains("stage-1 boxes all rolled back by themselves to 0.9.1") })
            let audit = lines.filter { $0.contains(" rollout-pause ") || $0.contains(" rollout-device-failed ") }
            #expect(audit.count >= 2 && audit.filter { $0.contains(" rollout-pause ") }.count == 1, "\(audit)")
            let totals = try #require(lines.first { $0.hasPrefix("totals:") })
            #expect(totals.contains(" 0 lost,") && totals.contains(" 0 undelivered,"), "\(totals)")
            let alerts = try #require(lines.first { $0.hasPrefix("alerts:") })
            let stored = try #require(count("stored", in: alerts))
            #expect(stored > 0 && count("delivered", in: alerts) == stored, "\(alerts)")
        }

        @Test("a fleet size of zero is refused with a reason")
        func zeroIsRefused() throws {
            let output = try panicd.run(["sim", "--fleet", "0"])
            #expect(output.status != 0)
            #expect((output.stdout + output.stderr).contains("at least one device"))
        }
    }
}
