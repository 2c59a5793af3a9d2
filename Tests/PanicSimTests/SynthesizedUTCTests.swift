import Foundation
import Testing

@testable import PanicSim

/// The synthesizer's `hhmmss.ss` and `ddmmyy` come from plain arithmetic (no `Calendar`, so no ICU time-zone data in
/// the idle daemon on the sim board: issue 29); here against Foundation's Gregorian calendar in UTC.
@Suite("Synthesized NMEA time without Calendar")
struct SynthesizedUTCTests {
    @Test("RMC's time and date fields match Calendar's from 1970 to 2099")
    func matchesCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        // A step that is not a whole number of days, so the instants walk across the day; fractions of 1/4 s are
        // exact in binary, so the hundredths are not a matter of rounding.
        var instant = 0.25
        while instant < 4_102_444_800 {
            let date = Date(timeIntervalSince1970: instant)
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let fraction = Int((instant - instant.rounded(.down)) * 100)
            let expected = (
                String(format: "%02d%02d%02d.%02d", c.hour!, c.minute!, c.second!, fraction),
                String(format: "%02d%02d%02d", c.day!, c.month!, c.year! % 100)
            )
            let got = NMEASynthesizer.utc(date)
            #expect(got.time == expected.0 && got.date == expected.1, "\(instant)")
            instant += 86_400 * 3 + 3_723.25
        }
    }
}
