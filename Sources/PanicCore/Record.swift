/// What a record reports. The kind decides the body's shape, the lane it drains on (`isUrgent`) and whether the
/// outbox may ever evict it.
public enum RecordKind: String, CaseIterable, Sendable, Codable {
    /// A panic-button press: latched until the control room clears it.
    case emergency
    /// A non-emergency assistance request.
    case help
    /// An earlier alert has been cleared.
    case cleared
    /// Tampering: a normally-closed button loop cut, or the enclosure opened.
    case tamper
    /// Main power lost or restored.
    case power
    /// A tracking position.
    case position
    /// A heartbeat with the box's own health.
    case health
    /// The box started: why the previous run ended, how long it was down, and the inputs found at fault.
    case boot
    /// A tamper condition ended: a cut loop closed again, the enclosure shut.
    case restored
    /// The vehicle's ignition was switched on or off.
    case ignition

    /// Whether the kind is an alert (emergency, tamper, help): it has a lifecycle the control room acts on.
    public var isAlert: Bool { self == .emergency || self == .tamper || self == .help }

    /// Whether a record of this kind is urgent: an alert or an alert's clear. Urgent records travel on the
    /// uplink's alert lane (oldest first, alone, skipping a backoff wait); everything else on the backlog lane.
    /// A clear belongs with its alert: on the same lane it can never overtake the alert it clears, and it never
    /// waits behind a backlog of positions while the control room still shows the alert open.
    /// A `restored` record is urgent for the same reason: it must never overtake the tamper it ends.
    public var isUrgent: Bool { isAlert || self == .cleared || self == .restored }

    /// Whether the outbox may drop an undelivered record of this kind when it is full (positions only).
    public var isEvictable: Bool { self == .position }
}

/// Where a record's wall-clock time came from. The boards have no RTC: before the first GNSS fix or NTP sync
/// the system clock may be far off, and a receiver should know that.
public enum TimeSource: String, CaseIterable, Sendable, Codable {
    /// UTC from the GNSS receiver.
    case gnss
    /// The system clock (NTP-synced or not).
    case system
}

/// A wall-clock time in UTC milliseconds since the Unix epoch, encoded in JSON as RFC 3339 with milliseconds
/// (`2025-03-01T10:15:30.250Z`).
public struct RecordTime: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var epochMilliseconds: Int64

    public init(epochMilliseconds: Int64) { self.epochMilliseconds = epochMilliseconds }

    public static func < (lhs: RecordTime, rhs: RecordTime) -> Bool { lhs.epochMilliseconds < rhs.epochMilliseconds }

    /// The RFC 3339 text, always UTC with three fractional digits.
    public var description: String {
        let ms = epochMilliseconds
        let secondsTotal = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = ms - secondsTotal * 1000
        let days = secondsTotal >= 0 ? secondsTotal / 86_400 : (secondsTotal - 86_399) / 86_400
        let secondOfDay = secondsTotal - days * 86_400
        let (year, month, day) = RecordTime.civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String { String(value).leftPadded(to: width) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))Z"
    }

    /// Parses RFC 3339 UTC text (`Z` only, zero to nine fractional digits); nil when it is not that.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var millis: Int64 = 0
        let fractionEnd = bytes.count - 1
        if fractionEnd > 19 {
            guard bytes[19] == UInt8(ascii: "."), fractionEnd > 20, fractionEnd - 20 <= 9,
                let fraction = number(20..<fractionEnd)
            else { return nil }
            var scaled = fraction
            var digits = fractionEnd - 20
            while digits > 3 {
                scaled /= 10
                digits -= 1
            }
            while digits < 3 {
                scaled *= 10
                digits += 1
            }
            millis = scaled
        } else if fractionEnd != 19 {
            return nil
        }
        let days = RecordTime.days(fromCivil: year, month, day)
        epochMilliseconds = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = RecordTime(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not an RFC 3339 UTC time (e.g. 2025-03-01T10:15:30.250Z)"
            )
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    // Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar. Public so the
    // daemon's and the simulator's UTC arithmetic uses them instead of Foundation's `Calendar`, which loads ICU's
    // time-zone data and calendar code into the idle daemon (issue 29: ~1 MB of ICU data resident).
    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
    public static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// The last GNSS fix known when the record was made, and how old it was then. An alert is never held back
/// for want of a fix: a record without one says so (`"fix": null`).
public struct RecordFix: Hashable, Sendable, Codable {
    /// GNSS fix dimension.
    public enum Mode: String, Sendable, Codable, CaseIterable {
        case twoD = "2d"
        case threeD = "3d"
    }

    /// Latitude in degrees, WGS 84, north positive.
    public var latitude: Double
    /// Longitude in degrees, WGS 84, east positive.
    public var longitude: Double
    /// Altitude above mean sea level in metres, when the receiver gave one.
    public var altitude: Double?
    /// Speed over ground in km/h.
    public var speed: Double?
    /// Course over ground in degrees from true north.
    public var course: Double?
    /// 2-D or 3-D fix.
    public var mode: Mode
    /// Horizontal dilution of precision.
    public var hdop: Double?
    /// Satellites used in the fix.
    public var satellites: Int?
    /// The fix's own UTC time, when the receiver gave one.
    public var fixTime: RecordTime?
    /// How old the fix was when the record was made, in milliseconds (measured on the monotonic clock).
    public var ageMilliseconds: Int64

    public init(
        latitude: Double, longitude: Double, altitude: Double? = nil, speed: Double? = nil, course: Double? = nil,
        mode: Mode = .threeD, hdop: Double? = nil, satellites: Int? = nil, fixTime: RecordTime? = nil,
        ageMilliseconds: Int64
    ) {
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
        self.speed = speed
        self.course = course
        self.mode = mode
        self.hdop = hdop
        self.satellites = satellites
        self.fixTime = fixTime
        self.ageMilliseconds = ageMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case latitude = "lat"
        case longitude = "lon"
        case altitude = "alt"
        case speed, course, mode, hdop
        case satellites = "sats"
        case fixTime
        case ageMilliseconds = "ageMs"
    }
}
