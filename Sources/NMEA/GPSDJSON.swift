import Foundation
import PanicCore

/// Turns gpsd's JSON reports (a `?WATCH={"enable":true,"json":true}` stream) into fixes.
///
/// TPV reports become `GNSSFix` values (mode, time, lat, lon, altMSL/alt, altHAE, speed, track, magvar);
/// SKY reports fill in DOPs and satellites used and seen for the next fix. Lines are split across any chunking
/// and bounded in length; other classes (VERSION, DEVICES, WATCH) are counted and skipped.
public struct GPSDReportDecoder: Sendable {
    /// The longest line kept; gpsd's SKY reports with many satellites run to a few kilobytes.
    public static let maximumLineLength = 1 << 16
    /// Lines that were not JSON or not an object, or too long.
    public private(set) var malformedLines = 0
    /// TPV reports decoded.
    public private(set) var tpvReports = 0
    private var line: [UInt8] = []
    private var sky = Sky()

    private struct Sky: Sendable {
        var hdop: Double?
        var pdop: Double?
        var vdop: Double?
        var used: Int?
    }

    private struct Report: Decodable {
        var `class`: String
        var mode: Int?
        var time: String?
        var lat: Double?
        var lon: Double?
        var alt: Double?
        var altMSL: Double?
        var altHAE: Double?
        var speed: Double?
        var track: Double?
        var magvar: Double?
        var hdop: Double?
        var pdop: Double?
        var vdop: Double?
        var uSat: Int?
        var status: Int?
    }

    public init() {}

    /// Feeds a chunk heard at `instant`, calling `fix` for each TPV report completed.
    public mutating func feed(_ bytes: [UInt8], at instant: MonotonicInstant, fix: (GNSSFix) -> Void) {
        for byte in bytes {
            if byte == 0x0A {
                if let decoded = decodeLine(at: instant) { fix(decoded) }
                line.removeAll(keepingCapacity: true)
            } else if line.count < Self.maximumLineLength {
                line.append(byte)
            } else if line.count == Self.maximumLineLength {
                malformedLines += 1
                line.append(byte)  // one past the bound marks the line as dropped
            }
        }
    }

    private mutating func decodeLine(at instant: MonotonicInstant) -> GNSSFix? {
        while line.last == 0x0D { line.removeLast() }
        guard !line.isEmpty, line.count <= Self.maximumLineLength else { return nil }
        guard let report = try? JSONDecoder().decode(Report.self, from: Data(line)) else {
            malformedLines += 1
            return nil
        }
        switch report.class {
        case "SKY":
            sky = Sky(hdop: report.hdop, pdop: report.pdop, vdop: report.vdop, used: report.uSat)
            return nil
        case "TPV":
            tpvReports += 1
            return fix(from: report, at: instant)
        default:
            return nil
        }
    }

    private func fix(from report: Report, at instant: MonotonicInstant) -> GNSSFix {
        var fix = GNSSFix()
        fix.mode = GNSSFix.Mode(rawValue: report.mode ?? 0) ?? .unknown
        if let time = report.time, let (date, timeOfDay) = Self.parseTime(time) {
            fix.date = date
            fix.time = timeOfDay
        }
        if fix.mode >= .twoD {
            fix.latitude = report.lat
            fix.longitude = report.lon
            fix.quality = report.status == 2 ? .differential : .autonomous
        }
        if fix.mode == .threeD {
            fix.altitudeMSL = report.altMSL ?? report.alt
            if let hae = report.altHAE, let msl = fix.altitudeMSL { fix.geoidSeparation = hae - msl }
        }
        fix.speed = report.speed
        fix.track = report.track
        fix.magneticVariation = report.magvar
        fix.hdop = sky.hdop
        fix.pdop = sky.pdop
        fix.vdop = sky.vdop
        fix.satellitesUsed = sky.used
        fix.receivedAt = instant
        return fix
    }

    /// Parses gpsd's `2017-01-10T00:09:41.000Z`.
    static func parseTime(_ text: String) -> (UTCDate, UTCTime)? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A,
            bytes[16] == 0x3A
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let digit = bytes[index] &- 0x30
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var nanosecond = 0
        if bytes[19] == 0x2E {
            var scale = 100_000_000
            var index = 20
            while index < bytes.count, bytes[index] &- 0x30 < 10 {
                nanosecond += Int(bytes[index] &- 0x30) * scale
                scale /= 10
                index += 1
            }
        }
        guard let date = UTCDate.calendarValid(year: year, month: month, day: day) else { return nil }
        return (
            date,
            UTCTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
        )
    }
}

/// Cuts an NMEA recording into segments at each new receiver time, with offsets from the first time, so a
/// replayer can deliver it at its own pace (times that go backwards or jump over an hour restart the pace).
public enum NMEARecording {
    /// The recording's segments: (offset from the start, bytes), covering every byte in order.
    public static func segments(of recording: [UInt8]) -> [(offset: Duration, bytes: [UInt8])] {
        var segments: [(offset: Duration, bytes: [UInt8])] = []
        var parser = NMEAParser()
        var framer = NMEAFramer()
        var lineStart = 0
        var segmentStart = 0
        var first: Int64?
        var current: Int64?
        var base: Int64 = 0
        var offset = Duration.zero
        recording.withUnsafeBytes { all in
            for index in all.indices where all[index] == 0x0A {
                var time: UTCTime?
                framer.feed(UnsafeRawBufferPointer(rebasing: all[lineStart...index])) { frame in
                    if case .sentence(let body, _) = frame, case .sentence(let sentence) = parser.parse(body) {
                        time = sentence.time ?? time
                    }
                }
                if let time {
                    let nanos = time.nanosecondsOfDay
                    if first == nil { first = nanos }
                    if let previous = current, nanos != previous {
                        segments.append((offset, Array(all[segmentStart..<lineStart])))
                        segmentStart = lineStart
                        let step = nanos - previous
                        if step > 0 && step < 3_600_000_000_000 {
                            base += step
                        } else {
                            base += 1_000_000_000
                        }
                        offset = .nanoseconds(base)
                    }
                    current = nanos
                }
                lineStart = index + 1
            }
        }
        if segmentStart < recording.count { segments.append((offset, Array(recording[segmentStart...]))) }
        return segments
    }
}
