/// A field that held something other than what its sentence type promises.
public struct NMEAFieldError: Error, Sendable, Hashable {
    /// The 0-based field index (0 is the address).
    public var field: Int
}

/// A UTC time of day as a receiver reports it (`hhmmss.sss`).
public struct UTCTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }

    /// Nanoseconds since midnight.
    public var nanosecondsOfDay: Int64 {
        Int64((hour * 60 + minute) * 60 + second) * 1_000_000_000 + Int64(nanosecond)
    }

    public static func < (lhs: UTCTime, rhs: UTCTime) -> Bool { lhs.nanosecondsOfDay < rhs.nanosecondsOfDay }

    public var description: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(hour)):\(two(minute)):\(two(second)).\(String(nanosecond / 1_000_000).leftPadded(3))"
    }
}

/// A calendar date as a receiver reports it, never corrected (see `GNSSFix.dateSuspect`).
public struct UTCDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func < (lhs: UTCDate, rhs: UTCDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// The date, if it exists in the (proleptic Gregorian) calendar: no 31 February, no month 13. The one check
    /// every date a receiver or gpsd reports goes through before it can become a record's time.
    public static func calendarValid(year: Int, month: Int, day: Int) -> UTCDate? {
        guard (1...12).contains(month), (1...days(inMonth: month, of: year)).contains(day) else { return nil }
        return UTCDate(year: year, month: month, day: day)
    }

    /// How many days `month` (1–12) has in `year`.
    public static func days(inMonth month: Int, of year: Int) -> Int {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return lengths[max(0, min(11, month - 1))]
    }

    /// The next calendar day (proleptic Gregorian).
    public var nextDay: UTCDate {
        if day < Self.days(inMonth: month, of: year) { return UTCDate(year: year, month: month, day: day + 1) }
        if month < 12 { return UTCDate(year: year, month: month + 1, day: 1) }
        return UTCDate(year: year + 1, month: 1, day: 1)
    }

    public var description: String {
        "\(String(year).leftPadded(4))-\(String(month).leftPadded(2))-\(String(day).leftPadded(2))"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A sentence's fields as byte ranges over its bytes: nothing is copied and no string is made.
///
/// Field 0 is the address (`GPGGA`); field 1 is the first data field, as in gpsd's decoders. Asking for a
/// field past the end gives an empty field, so trailing fields that older receivers omit read as absent.
/// It points into the parser's buffers, so it is only valid during the call it is handed to.
public struct NMEAFields {
    private let bytes: UnsafePointer<UInt8>
    private let ends: UnsafePointer<Int>
    /// How many fields the sentence has, the address included.
    public let count: Int

    init(bytes: UnsafePointer<UInt8>, ends: UnsafePointer<Int>, count: Int) {
        self.bytes = bytes
        self.ends = ends
        self.count = count
    }

    /// The bytes of field `index` (empty when absent).
    @inline(__always)
    public func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        guard index < count else { return UnsafeBufferPointer(start: bytes, count: 0) }
        let start = index == 0 ? 0 : ends[index - 1] + 1
        return UnsafeBufferPointer(start: bytes + start, count: ends[index] - start)
    }

    /// Where field `index` starts in the sentence body.
    public func offset(of index: Int) -> Int { index == 0 ? 0 : ends[min(index, count) - 1] + 1 }

    /// The length of the whole sentence body.
    public var endOffset: Int { ends[count - 1] }

    /// Whether field `index` is empty or absent.
    public func isEmpty(_ index: Int) -> Bool { index >= count || bytes(index).isEmpty }

    /// Field `index` as text (for the few places that keep text, such as TXT).
    public func string(_ index: Int) -> String { String(decoding: bytes(index), as: UTF8.self) }

    /// The single character of field `index`, or nil when empty.
    public func character(_ index: Int) throws(NMEAFieldError) -> UInt8? {
        let field = bytes(index)
        if field.isEmpty { return nil }
        guard field.count == 1 else { throw NMEAFieldError(field: index) }
        return field[0]
    }

    /// Field `index` as an unsigned decimal integer, or nil when empty.
    public func integer(_ index: Int) throws(NMEAFieldError) -> Int? {
        let field = bytes(index)
        if field.isEmpty { return nil }
        guard field.count <= 9 else { throw NMEAFieldError(field: index) }
        var value = 0
        for byte in field {
            let digit = byte &- ascii.zero
            guard digit < 10 else { throw NMEAFieldError(field: index) }
            value = value &* 10 &+ Int(digit)
        }
        return value
    }

    /// Field `index` as a decimal number (`-12.345`), parsed by hand from ASCII, or nil when empty.
    public func decimal(_ index: Int) throws(NMEAFieldError) -> Double? {
        let field = bytes(index)
        if field.isEmpty { return nil }
        guard let value = parseDecimal(field) else { throw NMEAFieldError(field: index) }
        return value
    }

    /// Latitude or longitude from `ddmm.mmmm` / `dddmm.mmmm` and its hemisphere field, in degrees.
    public func coordinate(
        _ index: Int, hemisphere: Int, positive: UInt8, negative: UInt8, limit: Double
    )
        throws(NMEAFieldError) -> Double?
    {
        guard let raw = try decimal(index) else { return nil }
        guard raw >= 0 else { throw NMEAFieldError(field: index) }
        // The same arithmetic as gpsd's do_lat_lon(), so results agree to the last printed digit.
        let degrees = (raw / 100).rounded(.down)
        let value = degrees + (raw - degrees * 100) / 60
        guard value <= limit else { throw NMEAFieldError(field: index) }
        switch try character(hemisphere) {
        case positive: return value
        case negative: return -value
        default: throw NMEAFieldError(field: hemisphere)
        }
    }

    /// A UTC time of day from `hhmmss` or `hhmmss.sss`, or nil when empty.
    public func time(_ index: Int) throws(NMEAFieldError) -> UTCTime? {
        let field = bytes(index)
        if field.isEmpty { return nil }
        guard field.count >= 6, field.count <= 16 else { throw NMEAFieldError(field: index) }
        var parts = (0, 0, 0)
        for position in 0..<6 {
            let digit = field[position] &- ascii.zero
            guard digit < 10 else { throw NMEAFieldError(field: index) }
            switch position / 2 {
            case 0: parts.0 = parts.0 * 10 + Int(digit)
            case 1: parts.1 = parts.1 * 10 + Int(digit)
            default: parts.2 = parts.2 * 10 + Int(digit)
            }
        }
        var nanosecond = 0
        if field.count > 6 {
            guard field[6] == ascii.dot else { throw NMEAFieldError(field: index) }
            var scale = 100_000_000
            for position in 7..<field.count {
                let digit = field[position] &- ascii.zero
                guard digit < 10 else { throw NMEAFieldError(field: index) }
                nanosecond += Int(digit) * scale
                scale /= 10
            }
        }
        guard parts.0 < 24, parts.1 < 60, parts.2 <= 60 else { throw NMEAFieldError(field: index) }
        return UTCTime(hour: parts.0, minute: parts.1, second: parts.2, nanosecond: nanosecond)
    }

    /// A date from `ddmmyy`, or nil when empty. Two-digit years are taken as 2000–2079 or 1980–1999.
    public func date(_ index: Int) throws(NMEAFieldError) -> UTCDate? {
        let field = bytes(index)
        if field.isEmpty { return nil }
        guard field.count == 6 else { throw NMEAFieldError(field: index) }
        var parts = (0, 0, 0)
        for position in 0..<6 {
            let digit = field[position] &- ascii.zero
            guard digit < 10 else { throw NMEAFieldError(field: index) }
            switch position / 2 {
            case 0: parts.0 = parts.0 * 10 + Int(digit)
            case 1: parts.1 = parts.1 * 10 + Int(digit)
            default: parts.2 = parts.2 * 10 + Int(digit)
            }
        }
        let year = parts.2 < 80 ? 2000 + parts.2 : 1900 + parts.2
        guard let date = UTCDate.calendarValid(year: year, month: parts.1, day: parts.0) else {
            throw NMEAFieldError(field: index)
        }
        return date
    }
}

private let powersOfTen: [Double] = [
    1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
]

/// Parses `[+-]digits[.digits]` exactly as strtod would for up to 15 significant digits; nil if malformed.
@inline(__always)
func parseDecimal(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
    var index = 0
    var negative = false
    if field[0] == ascii.minus || field[0] == ascii.plus {
        negative = field[0] == ascii.minus
        index = 1
    }
    var mantissa: Int64 = 0
    var digits = 0
    var fraction = 0
    var seenDot = false
    let count = field.count
    // The integer part, up to the end or the first byte that is not a digit.
    while index < count {
        let digit = field[index] &- ascii.zero
        if digit >= 10 { break }
        guard digits < 18 else { return nil }
        mantissa = mantissa &* 10 &+ Int64(digit)  // at most 18 digits: no overflow
        if mantissa != 0 { digits &+= 1 }
        index &+= 1
    }
    if index < count {
        // Only a point may follow, then only digits.
        guard field[index] == ascii.dot else { return nil }
        seenDot = true
        index &+= 1
        while index < count {
            let digit = field[index] &- ascii.zero
            guard digit < 10 else { return nil }
            // Digits past 18 (or past 1e-18) are below a Double's precision: read and ignored.
            if digits < 18 && fraction < 18 {
                mantissa = mantissa &* 10 &+ Int64(digit)
                if mantissa != 0 { digits &+= 1 }
                fraction &+= 1
            }
            index &+= 1
        }
    }
    // At least one digit, and no lone "." or "-".
    guard field.count > (negative || field[0] == ascii.plus ? 1 : 0) + (seenDot ? 1 : 0) else { return nil }
    let value = Double(mantissa) / powersOfTen[fraction]
    return negative ? -value : value
}

// The sentence values are stored packed: every optional in eight bytes or fewer, so a whole sentence fits in a
// few vector registers' worth of bytes and moves from decoder to parser result to tracker without a call to
// memmove (a large value's copy becomes one). The public properties read and write them as the plain optionals.

/// A `Double?` in eight bytes: nil is one NaN bit pattern that decimal parsing never makes.
struct PackedDecimal: Sendable, Hashable {
    private static let none: UInt64 = 0x7FF8_0000_6E69_6C00
    private var bits: UInt64

    @inline(__always)
    init(_ value: Double?) { bits = value?.bitPattern ?? Self.none }

    @inline(__always)
    var value: Double? { bits == Self.none ? nil : Double(bitPattern: bits) }

    static func == (lhs: PackedDecimal, rhs: PackedDecimal) -> Bool { lhs.value == rhs.value }

    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// An `Int?` in four bytes: field integers have at most nine digits; anything else is clamped to 32 bits.
struct PackedInteger: Sendable, Hashable {
    private static let none = Int32.min
    private var raw: Int32

    @inline(__always)
    init(_ value: Int?) { raw = value.map { Int32(clamping: max($0, Int(Int32.min) + 1)) } ?? Self.none }

    @inline(__always)
    var value: Int? { raw == Self.none ? nil : Int(raw) }
}

/// A `UTCTime?` in eight bytes: hour, minute and second a byte each (clamped), nanoseconds in 32 bits.
struct PackedTime: Sendable, Hashable {
    private static let none = UInt64.max
    private var bits: UInt64

    @inline(__always)
    init(_ time: UTCTime?) {
        guard let time else {
            bits = Self.none
            return
        }
        bits =
            UInt64(UInt8(clamping: time.hour)) << 48 | UInt64(UInt8(clamping: time.minute)) << 40
            | UInt64(UInt8(clamping: time.second)) << 32 | UInt64(UInt32(clamping: time.nanosecond))
    }

    @inline(__always)
    var value: UTCTime? {
        guard bits != Self.none else { return nil }
        return UTCTime(
            hour: Int(bits >> 48 & 0xFF), minute: Int(bits >> 40 & 0xFF), second: Int(bits >> 32 & 0xFF),
            nanosecond: Int(bits & 0xFFFF_FFFF))
    }
}

/// A `UTCDate?` in eight bytes: the year in 32 bits (clamped), month and day a byte each (clamped).
struct PackedDate: Sendable, Hashable {
    private static let none = UInt64.max
    private var bits: UInt64

    @inline(__always)
    init(_ date: UTCDate?) {
        guard let date else {
            bits = Self.none
            return
        }
        bits =
            UInt64(UInt32(bitPattern: Int32(clamping: date.year))) << 16 | UInt64(UInt8(clamping: date.month)) << 8
            | UInt64(UInt8(clamping: date.day))
    }

    @inline(__always)
    var value: UTCDate? {
        guard bits != Self.none else { return nil }
        return UTCDate(
            year: Int(Int32(bitPattern: UInt32(truncatingIfNeeded: bits >> 16))), month: Int(bits >> 8 & 0xFF),
            day: Int(bits & 0xFF))
    }
}
