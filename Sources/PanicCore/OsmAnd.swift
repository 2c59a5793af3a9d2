/// Traccar's OsmAnd protocol: one position per HTTP request, its fields in the query string
/// (`?id=…&timestamp=…&lat=…&lon=…`); a 200 acknowledges it. Pure: the transport sends what this builds.
///
/// Field names are the ones `OsmAndProtocolDecoder` reads (`id`, `timestamp` in Unix seconds, `lat`, `lon`,
/// `speed` in knots, `bearing`, `altitude`, `accuracy`, `hdop`, `valid`, `batt`, `cell`); any other name becomes an attribute
/// of the position, so `alarm=sos` (`tampering`, `powerCut`, `powerRestored`) becomes Traccar's alarm.
///
/// An emergency is `alarm=sos`; a help request is `alarm=general` (Traccar's general alarm: an event, not an SOS)
/// with `panic=help`.
public enum OsmAnd {
    /// Traccar's alarm attribute value for a record, or nil when the record is not an alarm.
    public static func alarm(of record: Record) -> String? {
        switch record.body {
        case .emergency: "sos"
        case .help: "general"
        case .tamper: "tampering"
        case .power(.lost, _): "powerCut"
        case .power(.restored, _): "powerRestored"
        case .position, .cleared, .health, .boot, .restored, .ignition: nil
        }
    }

    /// The query items for `record` sent as device `id`, in order; nil for a kind OsmAnd does not carry (health).
    public static func items(for record: Record, id: String) -> [(String, String)]? {
        if case .health = record.body { return nil }
        var items: [(String, String)] = [("id", id), ("timestamp", String(floorSeconds(record.time)))]
        if let fix = record.fix {
            items.append(("lat", AIS140.fixed(fix.latitude, 6)))
            items.append(("lon", AIS140.fixed(fix.longitude, 6)))
            if let speed = fix.speed { items.append(("speed", AIS140.fixed(speed / 1.852, 2))) }
            if let course = fix.course { items.append(("bearing", AIS140.fixed(course, 1))) }
            if let altitude = fix.altitude { items.append(("altitude", AIS140.fixed(altitude, 1))) }
            if let hdop = fix.hdop {
                items.append(("hdop", AIS140.fixed(hdop, 2)))
                // A rough horizontal accuracy: HDOP times a typical 5 m user-equivalent range error.
                items.append(("accuracy", AIS140.fixed(hdop * 5, 1)))
            }
            items.append(("valid", AIS140.isValid(fix) ? "true" : "false"))
            items.append(("fixAge", String(fix.ageMilliseconds / 1000)))
        } else {
            items.append(("valid", "false"))
        }
        if let alarm = alarm(of: record) { items.append(("alarm", alarm)) }
        switch record.body {
        case .help: items.append(("panic", "help"))
        case .tamper(let reason, _): items.append(("tamper", reason.rawValue))
        case .cleared(let alert, _): items.append(("cleared", alert))
        // Not alarms: Traccar keeps them as the position's attributes (`ignition` is its own ignition key).
        case .ignition(let state, _): items.append(("ignition", state == .on ? "true" : "false"))
        case .restored(let reason, _): items.append(("restored", reason.rawValue))
        case .boot(let report):
            items.append(("event", "boot"))
            items.append(("bootReason", report.reason.rawValue))
            if let down = report.downMilliseconds { items.append(("downtime", String(down / 1000))) }
            if !report.found.isEmpty {
                items.append(("found", report.found.map { "\($0.state.rawValue):\($0.input)" }.joined(separator: ",")))
            }
        default: break
        }
        // An ignition record's own state is its `ignition`; the reading is not sent beside it a second time.
        let ownIgnition = record.kind == .ignition
        items += telemetryItems(record.telemetry).filter { !(ownIgnition && $0.0 == "ignition") }
        items.append(("seq", String(record.sequence)))
        return items
    }

    /// The record's readings as the parameters Traccar's OsmAnd decoder keeps, each only when known: `batt`
    /// (battery level %), `power` and `battery` (main and backup volts), `ignition`, `rssi` (0–31), `operator`,
    /// and `cell` (`MCC,MNC,LAC,CID,SIGNAL` in decimal: Traccar's cell tower).
    public static func telemetryItems(_ telemetry: Telemetry?) -> [(String, String)] {
        guard let telemetry else { return [] }
        var items: [(String, String)] = []
        if let percent = telemetry.supply?.batteryPercent { items.append(("batt", String(percent))) }
        if let volts = telemetry.supply?.mainVolts { items.append(("power", AIS140.fixed(volts, 2))) }
        if let volts = telemetry.supply?.backupVolts { items.append(("battery", AIS140.fixed(volts, 2))) }
        if let ignition = telemetry.ignition { items.append(("ignition", ignition ? "true" : "false")) }
        if let radio = telemetry.radio {
            if let signal = radio.signal { items.append(("rssi", String(signal))) }
            let name = AIS140.operatorField(radio)
            if !name.isEmpty { items.append(("operator", name)) }
            if let mcc = radio.mcc, let mnc = radio.mnc, let serving = radio.serving {
                var cell = [mcc, mnc, serving.lac, serving.cellID].map(String.init)
                if let signal = radio.signal { cell.append(String(signal)) }
                items.append(("cell", cell.joined(separator: ",")))
            }
        }
        return items
    }

    /// `items` as a query string (`a=b&c=d`), percent-encoding everything but unreserved characters.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved =
                (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 45
                || byte == 46 || byte == 95 || byte == 126
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    static func floorSeconds(_ time: RecordTime) -> Int64 {
        let ms = time.epochMilliseconds
        return ms >= 0 ? ms / 1000 : (ms - 999) / 1000
    }
}
