import Foundation
import NMEA
import Testing

@testable import PanicDaemon

/// `FixKeeper.utc` sums a fix's date and time by hand (no `Calendar`, so no ICU time-zone data in the idle daemon:
/// issue 29); here against Foundation's Gregorian calendar in UTC over 1970–2099, every month's edges, leap days
/// and times across the day.
@Suite("A fix's UTC instant without Calendar")
struct FixUTCArithmeticTests {
    @Test("every date and time gives the instant Calendar gives")
    func matchesCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        let times = [(0, 0, 0, 0), (0, 0, 1, 500_000_000), (12, 34, 56, 250_000_000), (23, 59, 59, 990_000_000)]
        var checked = 0
        for year in 1970...2099 {
            for month in 1...12 {
                for day in [1, 2, 15, 28, 29, 30, 31]
                where UTCDate.calendarValid(year: year, month: month, day: day) != nil {
                    for (hour, minute, second, nanosecond) in times {
                        var fix = GNSSFix()
                        fix.date = UTCDate(year: year, month: month, day: day)
                        fix.time = UTCTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
                        let components = DateComponents(
                            year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                            nanosecond: nanosecond)
                        let expected = try #require(calendar.date(from: components))
                        let got = try #require(FixKeeper.utc(fix))
                        #expect(
                            abs(got.timeIntervalSince1970 - expected.timeIntervalSince1970) < 1e-6,
                            "\(year)-\(month)-\(day) \(hour):\(minute):\(second).\(nanosecond)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 30_000)
    }
}
