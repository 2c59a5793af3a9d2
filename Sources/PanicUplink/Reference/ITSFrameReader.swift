import Foundation

/// Reads AIS-140 frames the way Traccar's `its` decoder does: the same regular expression (written out from
/// `ItsProtocolDecoder`'s `PatternBuilder` chain, traccar/traccar `src/main/java/org/traccar/protocol/`) and
/// the same reading of its groups. The reference receiver and the tests use it to check that every frame the box
/// sends gives the right IMEI, time, position and alarm there.
public enum ITSFrameReader {
    /// What Traccar makes of a frame.
    public struct Position: Sendable, Hashable {
        public var imei: String
        /// Seconds since 1970, UTC.
        public var time: Int64
        public var valid: Bool
        public var latitude: Double
        public var longitude: Double
        /// Knots, as Traccar stores speed.
        public var speedKnots: Double?
        public var course: Double?
        public var satellites: Int?
        public var altitude: Double?
        public var pdop: Double?
        public var hdop: Double?
        public var ignition: Bool?
        public var power: Double?
        public var battery: Double?
        public var emergency: Bool?
        /// Traccar's alarm: `sos`, `tampering`, `powerCut`, `powerRestored`, …
        public var alarm: String?
        /// The alert-id (event) field.
        public var event: Int?
        /// `H` (history) frames.
        public var archive: Bool
        /// The network operator field (Traccar's `operator`), when not empty.
        public var operatorName: String?
        /// The cell towers Traccar stores from the cell block (the serving cell first, then the neighbours whose
        /// LAC and CID are not 0); nil when the block holds an `x` (Traccar skips it).
        public var cells: [CellTower]?
    }

    /// One cell tower as Traccar's `CellTower.from(mcc, mnc, lac, cid[, signal])` keeps it.
    public struct CellTower: Sendable, Hashable {
        public var mcc: Int
        public var mnc: Int
        public var lac: Int
        public var cellID: Int
        /// The serving cell's signal field; nil for neighbours (Traccar does not read theirs).
        public var signal: Int?

        public init(mcc: Int, mnc: Int, lac: Int, cellID: Int, signal: Int? = nil) {
            self.mcc = mcc
            self.mnc = mnc
            self.lac = lac
            self.cellID = cellID
            self.signal = signal
        }
    }

    /// `ItsProtocolDecoder.PATTERN`.
    static let pattern: NSRegularExpression = {
        let source =
            #"[^$]*\$,?[^,]+,"#
            + #"(?:[^,]*,[^,]+,(..),(?:(\d+),)?([LH]),|([^,]+),)"#  // vendor, firmware, status, event, history | type
            + #"(\d{15}),"#  // imei
            + #"(?:([^,]{2}),|[^,]*,(?:([01]),)?)"#  // status | vehicle registration, valid
            + #"(\d\d),?(\d\d),?(\d{2,4}),?"#  // date
            + #"(\d\d),?(\d\d),?(\d\d),"#  // time
            + #"(?:([01AV]),)?"#  // valid
            + #"(\d+\.\d+),([NS]),(\d+\.\d+),([EW]),"#
            + #"(?:(\d+\.?\d*),(\d+\.?\d*),(\d+),"#  // speed, course, satellites
            + #"(?:(\d+\.?\d*),(\d+\.?\d*),(\d+\.?\d*),([^,]+)?,([01]),([01]),(\d+\.?\d*),(\d+\.?\d*),([01]),"#
            + #"[COYN]?,(.*),([012]{4}),([01]{2}),"#
            + #"(?:\d+,(\d+\.?\d*),(\d+\.?\d*),(-?\d+\.?\d*),(-?\d+\.?\d*),(-?\d+\.?\d*),(-?\d+),(-?\d+),"#
            + #"|\d+,(\d+\.?\d*),[0-9a-fA-F]+,"#
            + #"|\d+,(\d+\.?\d*),(\d+\.?\d*),"#
            + #"|(\d+\.\d+),(\d+),(\d{6}),([^,]+),([^,]+),)?"#
            + #")?"#
            + #"|(-?\d+\.\d+),(\d+\.\d+),)"#  // altitude, speed (EPB)
            + #".*"#
        return try! NSRegularExpression(pattern: source)
    }()

    /// `ItsProtocolDecoder.decodeAlarm`.
    public static func alarm(_ status: String) -> String? {
        switch status {
        case "WD", "EA": "sos"
        case "BL": "lowBattery"
        case "HB": "braking"
        case "HA": "acceleration"
        case "RT": "cornering"
        case "OS": "overspeed"
        case "TA": "tampering"
        case "BD": "powerCut"
        case "BR": "powerRestored"
        default: nil
        }
    }

    /// The position Traccar decodes from `sentence` (one frame without its line end), or nil when its pattern does
    /// not match (login, heartbeat and health frames give nil there too).
    public static func read(_ sentence: String) -> Position? {
        let range = NSRange(sentence.startIndex..., in: sentence)
        guard let match = pattern.firstMatch(in: sentence, range: range) else { return nil }
        func group(_ index: Int) -> String? {
            let r = match.range(at: index)
            guard r.location != NSNotFound, let swiftRange = Range(r, in: sentence) else { return nil }
            return String(sentence[swiftRange])
        }
        var status = group(1)
        let event = group(2).flatMap { Int($0) }
        let archive = group(3) == "H"
        let type = group(4)
        guard let imei = group(5) else { return nil }
        var alarm: String? = type == "EMR" ? "sos" : nil
        var ignition: Bool?
        if let second = group(6) { status = second }
        if let status {
            if status == "IN" {
                ignition = true
            } else if status == "IF" {
                ignition = false
            } else if let decoded = self.alarm(status) {
                // Traccar's `set(KEY_ALARM, null)` leaves an earlier alarm in place.
                alarm = decoded
            }
        }
        var valid = true
        if let flag = group(7) { valid = flag == "1" }
        guard let day = group(8).flatMap({ Int($0) }), let month = group(9).flatMap({ Int($0) }),
            var year = group(10).flatMap({ Int($0) }), let hour = group(11).flatMap({ Int($0) }),
            let minute = group(12).flatMap({ Int($0) }), let second = group(13).flatMap({ Int($0) })
        else { return nil }
        if year < 100 { year += 2000 }
        if let flag = group(14) { valid = flag == "1" || flag == "A" }
        guard var latitude = group(15).flatMap({ Double($0) }), var longitude = group(17).flatMap({ Double($0) })
        else { return nil }
        if group(16) == "S" { latitude = -latitude }
        if group(18) == "W" { longitude = -longitude }
        var position = Position(
            imei: imei, time: epochSeconds(year, month, day, hour, minute, second), valid: valid, latitude: latitude,
            longitude: longitude, alarm: alarm, event: event, archive: archive)
        position.ignition = ignition
        if let speed = group(19).flatMap({ Double($0) }) {
            position.speedKnots = speed / 1.852
            position.course = group(20).flatMap { Double($0) }
            position.satellites = group(21).flatMap { Int($0) }
        }
        if let altitude = group(22).flatMap({ Double($0) }) {
            position.altitude = altitude
            position.pdop = group(23).flatMap { Double($0) }
            position.hdop = group(24).flatMap { Double($0) }
            position.operatorName = group(25)
            position.ignition = group(26) == "1"
            position.power = group(28).flatMap { Double($0) }
            position.battery = group(29).flatMap { Double($0) }
            position.emergency = group(30) == "1"
            // Traccar parses the cell block unless it holds an `x`; a block it cannot parse fails the frame.
            if let block = group(31), !block.contains("x") {
                guard let cells = cellTowers(block) else { return nil }
                position.cells = cells
            }
        }
        if let altitude = group(49).flatMap({ Double($0) }) {
            position.altitude = altitude
            position.speedKnots = group(50).flatMap { Double($0) }.map { $0 / 1.852 }
        }
        return position
    }

    /// The cell block read as `ItsProtocolDecoder` does: `signal,mcc,mnc,lac(hex),cid(hex)`, then (unless the
    /// sixth field starts with `(`) four neighbours `signal,lac(hex),cid(hex)` of which those with LAC and CID above
    /// 0 are kept with the serving cell's MCC and MNC. Java's `split(",")` drops trailing empty fields; a field that
    /// does not parse fails the frame (nil), as the exception does there.
    static func cellTowers(_ block: String) -> [CellTower]? {
        var parts = block.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        while parts.last?.isEmpty == true { parts.removeLast() }
        guard parts.count >= 5, let signal = Int(parts[0]), let mcc = Int(parts[1]), let mnc = Int(parts[2]),
            let lac = Int(parts[3], radix: 16), let cid = Int(parts[4], radix: 16)
        else { return nil }
        var cells = [CellTower(mcc: mcc, mnc: mnc, lac: lac, cellID: cid, signal: signal)]
        if parts.count > 5, !parts[5].hasPrefix("(") {
            for index in 0..<4 {
                let at = 5 + 3 * index
                guard at + 2 < parts.count, let lac = Int(parts[at + 1], radix: 16),
                    let cid = Int(parts[at + 2], radix: 16)
                else { return nil }
                if lac > 0, cid > 0 { cells.append(CellTower(mcc: mcc, mnc: mnc, lac: lac, cellID: cid)) }
            }
        }
        return cells
    }

    static func epochSeconds(
        _ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int
    )
        -> Int64
    {
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return Int64(calendar.date(from: components)?.timeIntervalSince1970 ?? 0)
    }
}
