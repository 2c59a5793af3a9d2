/// Writes fixes as gpsd TPV JSON objects, one per line, by hand into a reusable byte buffer.
///
/// Field names and precisions follow gpsd 3.22 (`class`, `mode`, `time`, `lat`, `lon`, `altHAE`, `altMSL`,
/// `alt`, `track`, `magvar`, `speed`, `geoidSep`), so the output compares line by line with `gpsdecode -j`.
/// A field is written only when the epoch has it; `time` only when both date and time are known.
public enum TPVEncoder {
    /// Appends one TPV object and a newline to `output`.
    public static func append(_ fix: GNSSFix, to output: inout [UInt8]) {
        output.append(contentsOf: #"{"class":"TPV","mode":"#.utf8)
        appendInteger(fix.mode.rawValue, to: &output)
        if let date = fix.date, let time = fix.time {
            output.append(contentsOf: #","time":""#.utf8)
            appendPadded(date.year, 4, &output)
            output.append(ascii.minus)
            appendPadded(date.month, 2, &output)
            output.append(ascii.minus)
            appendPadded(date.day, 2, &output)
            output.append(0x54)  // T
            appendPadded(time.hour, 2, &output)
            output.append(0x3A)
            appendPadded(time.minute, 2, &output)
            output.append(0x3A)
            appendPadded(time.second, 2, &output)
            output.append(ascii.dot)
            appendPadded(time.nanosecond / 1_000_000, 3, &output)
            output.append(contentsOf: #"Z""#.utf8)
        }
        if fix.hasPosition, let latitude = fix.latitude, let longitude = fix.longitude {
            appendField(#","lat":"#, latitude, 9, &output)
            appendField(#","lon":"#, longitude, 9, &output)
        }
        if fix.mode == .threeD, let altitude = fix.altitudeMSL {
            if let hae = fix.altitudeHAE { appendField(#","altHAE":"#, hae, 4, &output) }
            appendField(#","altMSL":"#, altitude, 4, &output)
            appendField(#","alt":"#, altitude, 4, &output)
        }
        if let track = fix.track { appendField(#","track":"#, track, 4, &output) }
        if let variation = fix.magneticVariation { appendField(#","magvar":"#, variation, 1, &output) }
        if let speed = fix.speed { appendField(#","speed":"#, speed, 3, &output) }
        if let separation = fix.geoidSeparation, fix.hasPosition {
            appendField(#","geoidSep":"#, separation, 3, &output)
        }
        output.append(contentsOf: "}\n".utf8)
    }

    /// One TPV line as a string (tests and tools; the hot path uses `append`).
    public static func line(_ fix: GNSSFix) -> String {
        var output: [UInt8] = []
        append(fix, to: &output)
        return String(decoding: output.dropLast(), as: UTF8.self)
    }

    private static func appendField(_ name: StaticString, _ value: Double, _ decimals: Int, _ output: inout [UInt8]) {
        output.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        appendFixed(value, decimals: decimals, to: &output)
    }

    /// Appends `value` with exactly `decimals` digits after the point, as printf's `%.Nf` would.
    static func appendFixed(_ value: Double, decimals: Int, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        let scale = scales[decimals]
        let scaled = (value.magnitude * Double(scale)).rounded()
        guard scaled < 9.0e18 else {
            output.append(contentsOf: "null".utf8)
            return
        }
        let units = UInt64(scaled)
        if value < 0 && units != 0 { output.append(ascii.minus) }
        appendInteger(Int(units / scale), to: &output)
        if decimals > 0 {
            output.append(ascii.dot)
            var fraction = units % scale
            var digits = decimals
            var reversed: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &reversed) { buffer in
                while digits > 0 {
                    digits -= 1
                    buffer[digits] = ascii.zero + UInt8(fraction % 10)
                    fraction /= 10
                }
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<decimals]))
            }
        }
    }

    static func appendInteger(_ value: Int, to output: inout [UInt8]) {
        if value < 0 {
            output.append(ascii.minus)
            appendInteger(-value, to: &output)
            return
        }
        if value >= 10 { appendInteger(value / 10, to: &output) }
        output.append(ascii.zero + UInt8(value % 10))
    }

    private static func appendPadded(_ value: Int, _ width: Int, _ output: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var remaining = max(0, value)
        if remaining >= divisor * 10 { appendInteger(remaining / (divisor * 10), to: &output) }
        remaining %= divisor * 10
        while divisor > 0 {
            output.append(ascii.zero + UInt8(remaining / divisor))
            remaining %= divisor
            divisor /= 10
        }
    }

    private static let scales: [UInt64] = [
        1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
        1_000_000_000,
    ]
}
