import Foundation
import NMEA
import Testing

/// Every shared receiver log against the TPV lines gpsdecode printed for it (Fixtures/golden, see README).
@Suite("Receiver logs against gpsdecode")
struct GoldenTests {
    static let logs = [
        "beidou-gb", "firefly-II", "gp-320fw-2019-04-07-coldboot", "hp58534a", "mtk-3329", "navika-100-fix",
        "nmea-fuzzy-cases", "quectel-l76k-nmea", "sirfstarv-nmea", "st-teseo-liv4f", "ublox-8",
        "ublox-neo-m9n-nmea", "unicore-um621", "navic-handwritten",
    ]

    static func golden(_ name: String) throws -> [[String: Any]] {
        let text = String(decoding: try fixture("golden/\(name).tpv.json"), as: UTF8.self)
        return try text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") }.map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// Days from 1970-01-01 to a date (civil-from-days inverse).
    static func days(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468
    }

    @Test("positions, modes and times match gpsdecode epoch for epoch", arguments: logs)
    func matchesGPSDecode(name: String) throws {
        let framing = NMEAFramer.Options(requireChecksum: name != "hp58534a")
        let decoded = decode(try fixture("\(name).log"), framing: framing)
        var ours: [String: GNSSFix] = [:]
        for fix in decoded.fixes {
            if let time = fix.time, ours[time.description] == nil { ours[time.description] = fix }
        }
        var compared = 0
        for tpv in try Self.golden(name) {
            // gpsd reports a position before any time is known; those have no time to match on.
            guard let lat = tpv["lat"] as? Double, let lon = tpv["lon"] as? Double, let time = tpv["time"] as? String
            else { continue }
            let timeOfDay = String(time.dropFirst(11).dropLast())
            let fix = try #require(ours[timeOfDay], "\(name): no epoch at \(timeOfDay)")
            #expect(abs(try #require(fix.latitude) - lat) < 1e-9, "\(name) \(timeOfDay)")
            #expect(abs(try #require(fix.longitude) - lon) < 1e-9, "\(name) \(timeOfDay)")
            #expect(fix.mode.rawValue == tpv["mode"] as? Int, "\(name) \(timeOfDay)")
            // Same date, or gpsd's silent GPS-week-rollover correction of exactly 1024 weeks.
            let date = try #require(fix.date)
            let parts = time.prefix(10).split(separator: "-").compactMap { Int($0) }
            let shift = Self.days(parts[0], parts[1], parts[2]) - Self.days(date.year, date.month, date.day)
            #expect(shift == 0 || shift == 1024 * 7, "\(name) \(timeOfDay): \(date) vs \(time)")
            compared += 1
        }
        #expect(compared > 0 || name == "gp-320fw-2019-04-07-coldboot")
    }

    @Test("SiRF binary (bu303-moving) is skipped without a fix, a crash or a stall")
    func sirfBinary() throws {
        let bytes = try fixture("bu303-moving.log")
        let decoded = decode(bytes, chunkSize: 97)
        #expect(decoded.fixes.isEmpty)
        #expect(decoded.statistics.accepted == 0)
        #expect(decoded.statistics.skippedBytes > bytes.count / 2)
    }

    @Test("decoding is the same whatever the chunking", arguments: ["ublox-8", "gp-320fw-2019-04-07-coldboot"])
    func chunkingInvariance(name: String) throws {
        let bytes = try fixture("\(name).log")
        let whole = decode(bytes)
        for size in [1, 13, 4096] {
            let chunked = decode(bytes, chunkSize: size)
            #expect(chunked.fixes == whole.fixes)
            #expect(chunked.statistics == whole.statistics)
        }
    }

    @Test("the cold-boot log's bad and missing checksums and run-together sentences are counted")
    func coldBootCounts() throws {
        let decoded = decode(try fixture("gp-320fw-2019-04-07-coldboot.log"))
        #expect(decoded.statistics[.badChecksum] > 0)
        #expect(decoded.statistics[.missingChecksum] > 0)
        #expect(decoded.statistics.accepted > 50)
    }
}
