import NMEA
import PanicCore
import Testing

@Suite("Fix tracker")
struct TrackerTests {
    func epochs(_ bodies: [String], options: FixTracker.Options = .init()) -> [GNSSFix] {
        decode(Array(bodies.map(sentence).joined().utf8), tracking: options).fixes
    }

    let rmc = "GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A"
    let gga = "GPGGA,223251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,"
    let gsa = "GPGSA,A,3,07,30,19,11,15,,,,,,,,2.88,1.20,2.62"

    @Test("sentences of one time merge into one epoch with date, position, altitude, speed and DOPs")
    func merge() throws {
        let fixes = epochs([rmc, gga, gsa, "GPVTG,338.51,T,0.00,M,0.068,N,0.126,K,A"])
        try #require(fixes.count == 1)
        let fix = fixes[0]
        #expect(fix.mode == .threeD)
        #expect(fix.date == UTCDate(year: 2016, month: 4, day: 21))
        #expect(fix.time == UTCTime(hour: 22, minute: 32, second: 51))
        #expect(abs(fix.latitude! - 37.965442167) < 1e-9)
        #expect(fix.altitudeMSL == 9.2)
        #expect(abs(fix.altitudeHAE! - (9.2 - 25.1)) < 1e-9)
        #expect(abs(fix.speed! - 0.068 * 1852 / 3600) < 1e-12)
        #expect(fix.track == 338.51)
        #expect(fix.hdop == 1.20 && fix.pdop == 2.88 && fix.vdop == 2.62)
        #expect(fix.usedByConstellation[.gps] == 5)
        #expect(fix.quality == .autonomous)
        #expect(fix.satellitesUsed == 5)
    }

    @Test("a void RMC gives a no-fix epoch without a position")
    func voidRMC() throws {
        let fixes = epochs(["GPRMC,223251.00,V,,,,,,,210416,,,N"])
        try #require(fixes.count == 1)
        #expect(fixes[0].mode == .noFix)
        #expect(fixes[0].latitude == nil)
        #expect(!fixes[0].hasPosition)
    }

    @Test("fix loss and regain: the last good fix is kept through the loss and replaced on regain")
    func lossAndRegain() throws {
        var tracker = FixTracker()
        var parser = NMEAParser()
        func feed(_ body: String, _ seconds: Int64) -> GNSSFix? {
            let result = Array(body.utf8).withUnsafeBytes { parser.parse($0) }
            guard case .sentence(let sentence) = result else { return nil }
            return tracker.ingest(sentence, at: MonotonicInstant(sinceOrigin: .seconds(seconds)))
        }
        _ = feed(gga, 10)
        let lost = feed("GPGGA,223252.00,,,,,0,00,99.99,,,,,,", 11)
        #expect(lost?.hasPosition == true)
        let regained = feed("GPGGA,223253.00,3757.92000,N,12231.94000,W,1,05,1.20,9.2,M,-25.1,M,,", 12)
        #expect(regained?.mode == .noFix)
        #expect(tracker.lastFix?.time == UTCTime(hour: 22, minute: 32, second: 51))
        #expect(tracker.age(at: MonotonicInstant(sinceOrigin: .seconds(15))) == .seconds(5))
        let last = tracker.flush()
        #expect(last?.hasPosition == true)
        #expect(tracker.lastFix?.time == UTCTime(hour: 22, minute: 32, second: 53))
        #expect(tracker.age(at: MonotonicInstant(sinceOrigin: .seconds(15))) == .seconds(3))
    }

    @Test("the fix age follows an injected clock")
    func ageFromClock() throws {
        let clock = ManualClock()
        var decoder = NMEADecoder()
        var fixes: [GNSSFix] = []
        decoder.feed(Array(sentence(gga).utf8), at: clock.now) { fixes.append($0) }
        decoder.finish(at: clock.now) { fixes.append($0) }
        clock.advance(by: .seconds(42))
        #expect(decoder.tracker.age(at: clock.now) == .seconds(42))
        #expect(decoder.tracker.lastFix?.isStale(at: clock.now, after: .seconds(10)) == true)
        #expect(decoder.tracker.lastFix?.isStale(at: clock.now, after: .seconds(60)) == false)
    }

    @Test("epochs before the first date have no date; later ones carry it, and midnight moves it on")
    func timeBeforeDate() throws {
        let fixes = epochs([
            "GPGGA,235958.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,",
            "GPRMC,235959.00,A,3757.92653,N,12231.94543,W,0.068,338.51,311216,0.00,E,A",
            "GPGGA,000000.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,",
        ])
        try #require(fixes.count == 3)
        #expect(fixes[0].date == nil)
        #expect(fixes[1].date == UTCDate(year: 2016, month: 12, day: 31))
        #expect(fixes[2].date == UTCDate(year: 2017, month: 1, day: 1))
        #expect(TPVEncoder.line(fixes[0]).contains("\"time\"") == false)
    }

    @Test("a date before the plausible floor (GPS week rollover) is kept raw and flagged")
    func rollover() throws {
        let options = FixTracker.Options(earliestPlausibleDate: UTCDate(year: 2020, month: 1, day: 1))
        let fixes = epochs(["GPRMC,120000.00,A,3757.92653,N,12231.94543,W,0.0,0.0,060400,,,A"], options: options)
        try #require(fixes.count == 1)
        #expect(fixes[0].date == UTCDate(year: 2000, month: 4, day: 6))
        #expect(fixes[0].dateSuspect)
        let good = epochs(["GPRMC,120000.00,A,3757.92653,N,12231.94543,W,0.0,0.0,201126,,,A"], options: options)
        #expect(good.first?.dateSuspect == false)
    }

    @Test("NavIC: satellites used and in view are counted per constellation from GI and system id 6")
    func navic() throws {
        let fixes = decode(try fixture("navic-handwritten.log")).fixes
        try #require(fixes.count == 5)
        let fix = fixes[0]
        #expect(fix.usedByConstellation[.navic] == 6)
        #expect(fix.usedByConstellation[.gps] == 5)
        #expect(fix.inViewByConstellation[.navic] == 7)
        #expect(fix.inViewByConstellation[.gps] == 7)
        #expect(fix.mode == .threeD)
        #expect(fixes[4].mode == .noFix)
        #expect(fixes[4].latitude == nil)
    }

    @Test("a 2D fix (no altitude) reports mode 2 and no altitude")
    func twoD() throws {
        let fixes = epochs([rmc, "GPGSA,A,2,07,30,19,,,,,,,,,,2.88,1.20,2.62"])
        #expect(fixes.first?.mode == .twoD)
        #expect(fixes.first?.altitudeMSL == nil)
    }
}
