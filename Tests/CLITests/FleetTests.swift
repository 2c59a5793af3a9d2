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

        @Test("a fleet size of zero is refused with a reason")
        func zeroIsRefused() throws {
            let output = try panicd.run(["sim", "--fleet", "0"])
            #expect(output.status != 0)
            #expect((output.stdout + output.stderr).contains("at least one device"))
        }
    }
}
