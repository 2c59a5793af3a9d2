import Foundation
import PanicCore

/// Writes the NMEA 0183 (4.11) sentences a multi-constellation receiver with NavIC would send for one epoch:
/// `$GNRMC`, `$GNGGA`, a `$GNGSA` per constellation (system id 1 = GPS, 6 = NavIC), `$GPGSV` and `$GIGSV`.
/// With no fix it writes what a receiver in a tunnel writes: a void RMC, GGA quality 0, GSA mode 1.
public struct NMEASynthesizer: Sendable {
    /// A satellite in view.
    struct Satellite {
        var id: Int
        var elevation: Int
        var azimuth: Int
        var snr: Int
    }

    /// GPS PRNs and NavIC (IRNSS) satellite ids as NMEA 4.11 numbers them (NavIC 1…14).
    let gps = [
        Satellite(id: 2, elevation: 64, azimuth: 38, snr: 44), Satellite(id: 5, elevation: 41, azimuth: 301, snr: 40),
        Satellite(id: 12, elevation: 27, azimuth: 117, snr: 36),
        Satellite(id: 15, elevation: 55, azimuth: 203, snr: 42),
        Satellite(id: 18, elevation: 13, azimuth: 250, snr: 31),
        Satellite(id: 25, elevation: 72, azimuth: 146, snr: 46),
        Satellite(id: 29, elevation: 33, azimuth: 12, snr: 38),
    ]
    let navic = [
        Satellite(id: 2, elevation: 48, azimuth: 121, snr: 41), Satellite(id: 3, elevation: 67, azimuth: 223, snr: 43),
        Satellite(id: 4, elevation: 59, azimuth: 174, snr: 42), Satellite(id: 5, elevation: 36, azimuth: 257, snr: 39),
        Satellite(id: 6, elevation: 71, azimuth: 91, snr: 44),
    ]

    public init() {}

    /// The sentences for one epoch, each ending in CR LF.
    public func epoch(time: Date, state: RouteDrive.State?, altitude: Double = 431.0) -> [String] {
        let utc = Self.utc(time)
        guard let state else {
            return [
                Self.sentence("GNRMC,\(utc.time),V,,,,,,,\(utc.date),,,N,V"),
                Self.sentence("GNGGA,\(utc.time),,,,,0,00,99.99,,,,,,"),
                Self.sentence("GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1"),
                Self.sentence("GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,6"),
            ] + gsv(talker: "GP", satellites: [], signal: "1") + gsv(talker: "GI", satellites: [], signal: "1")
        }
        let lat = Self.coordinate(state.latitude, degreesWidth: 2, positive: "N", negative: "S")
        let lon = Self.coordinate(state.longitude, degreesWidth: 3, positive: "E", negative: "W")
        let knots = String(format: "%.2f", state.speed * 3600 / 1852)
        let course = String(format: "%.1f", state.course)
        let used = gps.count + navic.count
        return [
            Self.sentence("GNRMC,\(utc.time),A,\(lat),\(lon),\(knots),\(course),\(utc.date),,,A,V"),
            Self.sentence(
                "GNGGA,\(utc.time),\(lat),\(lon),1,\(String(format: "%02d", used)),0.78,\(String(format: "%.1f", altitude)),M,-41.3,M,,"
            ),
            Self.sentence("GNGSA,A,3," + Self.ids(gps) + ",1.32,0.78,1.06,1"),
            Self.sentence("GNGSA,A,3," + Self.ids(navic) + ",1.32,0.78,1.06,6"),
        ] + gsv(talker: "GP", satellites: gps, signal: "1") + gsv(talker: "GI", satellites: navic, signal: "1")
    }

    /// GSV messages of four satellites each, with the NMEA 4.11 signal id.
    func gsv(talker: String, satellites: [Satellite], signal: String) -> [String] {
        let pages = max(1, (satellites.count + 3) / 4)
        return (0..<pages).map { page in
            let slice = satellites.dropFirst(page * 4).prefix(4)
            let body = slice.map {
                "\(String(format: "%02d", $0.id)),\($0.elevation),\(String(format: "%03d", $0.azimuth)),\($0.snr)"
            }
            let fields =
                (["\(talker)GSV", "\(pages)", "\(page + 1)", String(format: "%02d", satellites.count)] + body + [signal])
            return Self.sentence(fields.joined(separator: ","))
        }
    }

    /// Twelve GSA id slots: the used satellites, then empty fields.
    static func ids(_ satellites: [Satellite]) -> String {
        let ids = satellites.prefix(12).map { String(format: "%02d", $0.id) }
        return (ids + Array(repeating: "", count: 12 - ids.count)).joined(separator: ",")
    }

    /// `$BODY*CS\r\n` with the XOR checksum of BODY.
    public static func sentence(_ body: String) -> String {
        let checksum = body.utf8.reduce(UInt8(0)) { $0 ^ $1 }
        return "$\(body)*\(String(format: "%02X", checksum))\r\n"
    }

    /// `ddmm.mmmmm,H` / `dddmm.mmmmm,H`.
    static func coordinate(_ value: Double, degreesWidth: Int, positive: String, negative: String) -> String {
        let magnitude = abs(value)
        let degrees = Int(magnitude)
        let minutes = (magnitude - Double(degrees)) * 60
        let degreeText = String(format: "%0\(degreesWidth)d", degrees)
        return "\(degreeText)\(String(format: "%08.5f", minutes)),\(value < 0 ? negative : positive)"
    }

    /// `hhmmss.ss` and `ddmmyy` in UTC.
    static func utc(_ date: Date) -> (time: String, date: String) {
        // Plain arithmetic, not `Calendar` (which loads ICU's time-zone data into the idle daemon that runs this
        // synthesizer on the sim board once a second).
        let interval = date.timeIntervalSince1970
        let whole = interval.rounded(.down)
        let seconds = Int64(whole)
        let hundredths = Int((interval - whole) * 1e9) / 10_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = RecordTime.civil(fromDays: days)
        return (
            String(
                format: "%02d%02d%02d.%02d", secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60, hundredths),
            String(format: "%02d%02d%02d", Int(day), Int(month), Int(year % 100))
        )
    }
}
