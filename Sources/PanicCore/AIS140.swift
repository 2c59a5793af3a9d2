/// AIS-140 (India's vehicle location tracking and emergency button standard) frames, as the state backends and
/// Traccar's `its` decoder read them: comma-separated ASCII from `$` to `*`, one frame per line (`\r\n`).
///
/// Pure: no I/O, no clock. The field lists are in docs/uplink.md → *AIS-140*; every frame is checked in the tests
/// by a decoder written from Traccar's `ItsProtocolDecoder` patterns.
///
/// | frame | shape |
/// |---|---|
/// | login | `$,LGN,REG,IMEI,FIRMWARE,LAT,N,LON,E*` |
/// | heartbeat | `$,HBT,VENDOR,FIRMWARE,IMEI*` |
/// | tracking | `$,NRM,VENDOR,FIRMWARE,STATUS,ALERT,L/H,IMEI,REG,FIX,DDMMYYYY,HHMMSS,LAT,N,LON,E,SPEED,HEADING,SATS,ALT,PDOP,HDOP,OPERATOR,IGN,MAINS,MAINS_V,BATT_V,EMERGENCY,TAMPER,SIGNAL,MCC,MNC,LAC,CID,(SIGNAL,LAC,CID)×4,DIN,DOUT,FRAME,CRC32,*` |
/// | health | `$,HLM,VENDOR,FIRMWARE,IMEI,BATT%,LOWBATT%,MEMORY%,RATE_ON,RATE_OFF,DIN,DOUT,ADC1,ADC2,CRC32,*` |
/// | emergency | `$,EPB,EMR,IMEI,NM/SP,DDMMYYYYHHMMSS,A/V,LAT,N,LON,E,ALT,SPEED,DISTANCE,G,REG,PHONE,CRC32,*` |
/// | help (EPB) | `$,EPB,HLP,…` as the emergency packet |
///
/// Help and emergency differ on the wire. An emergency is what AIS-140 calls one: status `EA`, alert `10`, the
/// emergency flag `1`, `EPB,EMR` — every decoder reads that as SOS. AIS-140 has no help request, so help goes out
/// as a normal location packet (status `NR`, emergency flag `0`) with the vendor alert id `90`
/// (``AlertID/helpRequest``), and as `EPB,HLP`: a decoder that does not know them stores a position, never an SOS
/// (Traccar's `its` decoder reads SOS only from `EA`, `WD` and `EMR`; the AIS-140 alert ids are 1–16 and the
/// state extensions stay below 30).
public enum AIS140 {
    /// The packet-type field of a tracking packet: what the packet reports.
    public enum Status: String, Sendable, CaseIterable {
        case normal = "NR"
        case emergency = "EA"
        case tamper = "TA"
        /// Main power disconnected.
        case powerCut = "BD"
        /// Main power restored.
        case powerRestored = "BR"
        case ignitionOn = "IN"
        case ignitionOff = "IF"
        /// An OTA command's acknowledgement (the Alert 12 frame, ``OTA``).
        case otaAcknowledgement = "OA"
    }

    /// The alert-id field (AIS-140 table of alert ids), two digits.
    public enum AlertID: Int, Sendable, CaseIterable {
        case locationUpdate = 1
        case locationUpdateHistory = 2
        case mainPowerDisconnected = 3
        case mainPowerReconnected = 6
        case ignitionOn = 7
        case ignitionOff = 8
        case boxOpened = 9
        case emergencyOn = 10
        case emergencyOff = 11
        /// A configuration parameter set, read or cleared over the air (`SET`/`GET`/`CLR`; ``OTA``).
        case otaParameter = 12
        case wireCut = 16
        /// A help request (the assistance button): PanicBridge's vendor alert id, outside AIS-140's table, sent
        /// with status `NR` and the emergency flag 0 so that no backend reads it as an emergency.
        case helpRequest = 90
        /// A help request closed (its `cleared` record): PanicBridge's vendor alert id, so that the end of a help
        /// request is not sent as AIS-140's "emergency state off" (`11`).
        case helpClosed = 91
        /// The box (re)started (its `boot` record): PanicBridge's vendor alert id, status `NR`.
        case boot = 92
        /// A cut button loop closed again (a `restored` record, reason `wire-cut`): vendor id, status `NR`.
        case wireRestored = 93
        /// The enclosure shut again (a `restored` record, reason `enclosure`): vendor id, status `NR`.
        case boxClosed = 94
    }

    /// The `EPB` packet type of an alert: `EMR` (AIS-140's emergency) or `HLP` (a help request).
    public enum EmergencyType: String, Sendable, CaseIterable {
        case emergency = "EMR"
        case help = "HLP"
    }

    /// What a record becomes in a tracking packet.
    public struct Tracking: Sendable, Hashable {
        public var status: Status
        public var alert: AlertID
        public var emergency: Bool
        /// Main power connected (1) or not (0).
        public var mainPower: Bool
        /// `O` when the enclosure reports open, else `C`.
        public var enclosureOpen: Bool
    }

    /// Settings the health packet reports.
    public struct HealthSettings: Sendable, Hashable {
        /// Records the outbox holds at most (memory percentage = queue depth / this).
        public var capacity: Int
        /// The position interval while all is calm, in seconds.
        public var positionIntervalSeconds: Int
        /// The position interval during an emergency, in seconds.
        public var emergencyIntervalSeconds: Int

        public init(capacity: Int = 50_000, positionIntervalSeconds: Int = 60, emergencyIntervalSeconds: Int = 10) {
            self.capacity = capacity
            self.positionIntervalSeconds = positionIntervalSeconds
            self.emergencyIntervalSeconds = emergencyIntervalSeconds
        }
    }

    /// A fix older than this is sent with the GNSS-fix field 0 (invalid).
    public static let validFixAgeMilliseconds: Int64 = 60_000

    /// The frame terminator.
    public static let lineEnd = "\r\n"

    /// The login packet, sent first on every connection.
    public static func login(_ identity: BoxIdentity, fix: RecordFix?) -> String {
        let (lat, ns, lon, ew) = coordinates(fix)
        return
            "$,LGN,\(identity.registrationField),\(identity.imei),\(identity.firmwareVersion),\(lat),\(ns),\(lon),\(ew)*"
            + lineEnd
    }

    /// The heartbeat packet; the server answers `$HBT*`.
    public static func heartbeat(_ identity: BoxIdentity) -> String {
        "$,HBT,\(identity.vendorID),\(identity.firmwareVersion),\(identity.imei)*" + lineEnd
    }

    /// What `record` becomes in a tracking packet, or nil when it travels otherwise (health) or not at all.
    /// - Parameters:
    ///   - clearing: for a `cleared` record, the kind of the alert it closes when known: a help request's end is
    ///     alert `91`, an emergency's (or an unknown alert's) `11`.
    public static func tracking(of record: Record, clearing: RecordKind? = nil) -> Tracking? {
        func make(
            _ status: Status, _ alert: AlertID, emergency: Bool = false, power: Bool = true, open: Bool = false
        )
            -> Tracking
        {
            Tracking(status: status, alert: alert, emergency: emergency, mainPower: power, enclosureOpen: open)
        }
        switch record.body {
        case .position: return make(.normal, .locationUpdate)
        case .emergency: return make(.emergency, .emergencyOn, emergency: true)
        // Not an emergency: a located normal packet with PanicBridge's help alert id (docs/uplink.md).
        case .help: return make(.normal, .helpRequest)
        case .cleared: return make(.normal, clearing == .help ? .helpClosed : .emergencyOff)
        case .tamper(.wireCut, _): return make(.tamper, .wireCut)
        case .tamper(.enclosure, _): return make(.tamper, .boxOpened, open: true)
        case .power(.lost, _): return make(.powerCut, .mainPowerDisconnected, power: false)
        case .power(.restored, _): return make(.powerRestored, .mainPowerReconnected)
        case .health: return nil
        // Not alerts: located normal packets with PanicBridge's vendor alert ids (docs/uplink.md). A boot frame's
        // main-power and enclosure flags say what the box found at start.
        case .boot(let report):
            let found = Set(report.found.map(\.state))
            return make(
                .normal, .boot, power: !found.contains(.powerLost), open: found.contains(.enclosureOpen))
        case .restored(.wireCut, _): return make(.normal, .wireRestored)
        case .restored(.enclosure, _): return make(.normal, .boxClosed)
        case .ignition(.on, _): return make(.ignitionOn, .ignitionOn)
        case .ignition(.off, _): return make(.ignitionOff, .ignitionOff)
        }
    }

    /// The frames a tracking backend gets for `record` (one, or none for a kind AIS-140 does not carry).
    /// - Parameters:
    ///   - live: `L` (sent as it happened) or `H` (from the backlog).
    ///   - clearing: for a `cleared` record, the kind of the alert it closes (see ``tracking(of:clearing:)``).
    public static func frames(
        for record: Record, identity: BoxIdentity, live: Bool, health: HealthSettings = .init(),
        clearing: RecordKind? = nil
    ) -> [String] {
        if case .health(let report) = record.body {
            return [healthPacket(report, identity: identity, settings: health, telemetry: record.telemetry)]
        }
        guard let tracking = tracking(of: record, clearing: clearing) else { return [] }
        return [trackingPacket(record, tracking, identity: identity, live: live)]
    }

    /// The tracking packet for `record`.
    public static func trackingPacket(
        _ record: Record, _ tracking: Tracking, identity: BoxIdentity, live: Bool
    )
        -> String
    {
        checksummed(trackingFields(record, tracking, identity: identity, live: live))
    }

    /// The tracking packet's fields before the checksum.
    static func trackingFields(
        _ record: Record, _ tracking: Tracking, identity: BoxIdentity, live: Bool
    ) -> [String] {
        let fix = record.fix
        let (date, time) = dateTime(record.time)
        let (lat, ns, lon, ew) = coordinates(fix)
        let alert = tracking.alert == .locationUpdate && !live ? AlertID.locationUpdateHistory : tracking.alert
        // The record's own readings (AIS140+Telemetry.swift says what each field is when not known).
        let radio = record.telemetry?.radio
        let supply = record.telemetry?.supply
        let fields: [String] = [
            "$", "NRM", identity.vendorID, identity.firmwareVersion, tracking.status.rawValue,
            pad(alert.rawValue, 2), live ? "L" : "H", identity.imei, identity.registrationField,
            isValid(fix) ? "1" : "0", date, time, lat, ns, lon, ew,
            fixed(max(0, fix?.speed ?? 0), 1), fixed(fix?.course ?? 0, 2), String(max(0, fix?.satellites ?? 0)),
            // Traccar's pattern reads the altitude unsigned: below sea level is sent as 0.
            fixed(max(0, fix?.altitude ?? 0), 1),
            // The receiver reports no PDOP: 0.00 (unknown).
            fixed(0, 2), fixed(fix?.hdop ?? 0, 2),
            operatorField(radio), ignitionField(ignition(of: record, tracking)),
            mainPowerField(record, tracking), voltageField(supply?.mainVolts), voltageField(supply?.backupVolts),
            emergencyField(record, tracking), enclosureField(record, tracking), cellBlock(radio),
            "0000", "00", pad(Int(record.sequence % 1_000_000), 6),
        ]
        return fields
    }

    /// The health-monitoring packet for a health record; `telemetry` is the record's own readings (its battery
    /// percentage is `x` when not known, never 0).
    public static func healthPacket(
        _ report: HealthReport, identity: BoxIdentity, settings: HealthSettings, telemetry: Telemetry? = nil
    ) -> String {
        let memory = settings.capacity > 0 ? min(100, Double(report.queueDepth) * 100 / Double(settings.capacity)) : 0
        let fields: [String] = [
            "$", "HLM", identity.vendorID, identity.firmwareVersion, identity.imei,
            batteryPercentField(telemetry?.supply?.batteryPercent),
            "0",  // low-battery threshold: none
            fixed(memory, 1), pad(settings.emergencyIntervalSeconds, 5), pad(settings.positionIntervalSeconds, 5),
            "0000", "00", fixed(0, 1), fixed(0, 1),
        ]
        return checksummed(fields)
    }

    /// The emergency packet an emergency-only backend gets for an alert record (`EPB,EMR` for an emergency,
    /// `EPB,HLP` for a help request); nil for other records (they are not sent there).
    /// - Parameter vendor: a vendor id sent before the packet type (`$,EPB,VENDOR,EMR,…`, the C-DAC dialect's
    ///   layout); nil for Traccar's `$,EPB,EMR,…`.
    public static func emergencyPacket(
        _ record: Record, identity: BoxIdentity, live: Bool, vendor: String? = nil
    ) -> String? {
        let type: EmergencyType
        switch record.body {
        case .emergency: type = .emergency
        case .help: type = .help
        default: return nil
        }
        let fix = record.fix
        let (date, time) = dateTime(record.time)
        let (lat, ns, lon, ew) = coordinates(fix)
        let fields: [String] =
            ["$", "EPB"] + (vendor.map { [$0] } ?? []) + [
                type.rawValue, identity.imei, live ? "NM" : "SP", date + time, isValid(fix) ? "A" : "V",
                lat, ns, lon, ew, fixed(max(0, fix?.altitude ?? 0), 1), fixed(max(0, fix?.speed ?? 0), 1),
                fixed(0, 1),  // distance: not measured
                "G", identity.registrationField, "0000000000",
            ]
        return checksummed(fields)
    }

    /// CRC-32 (IEEE 802.3, as zlib) of `bytes`.
    public static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Joins `fields` with commas, then appends `,CRC32,*\r\n`: the CRC covers every byte from `$` to the comma
    /// before it, as eight lower-case hex digits.
    static func checksummed(_ fields: [String]) -> String {
        let body = fields.joined(separator: ",") + ","
        let crc = String(crc32(body.utf8), radix: 16)
        return body + String(repeating: "0", count: 8 - crc.count) + crc + ",*" + lineEnd
    }

    static func isValid(_ fix: RecordFix?) -> Bool {
        guard let fix else { return false }
        return fix.ageMilliseconds <= validFixAgeMilliseconds
    }

    /// Latitude and longitude as unsigned degrees with six decimals and their hemispheres; 0 when there is no fix.
    static func coordinates(_ fix: RecordFix?) -> (String, String, String, String) {
        let lat = fix?.latitude ?? 0
        let lon = fix?.longitude ?? 0
        return (fixed(abs(lat), 6), lat < 0 ? "S" : "N", fixed(abs(lon), 6), lon < 0 ? "W" : "E")
    }

    /// `DDMMYYYY` and `HHMMSS` in UTC.
    public static func dateTime(_ time: RecordTime) -> (String, String) {
        let ms = time.epochMilliseconds
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let second = seconds - days * 86_400
        let (year, month, day) = RecordTime.civil(fromDays: days)
        return (
            pad(Int(day), 2) + pad(Int(month), 2) + pad(Int(year), 4),
            pad(Int(second / 3600), 2) + pad(Int(second / 60 % 60), 2) + pad(Int(second % 60), 2)
        )
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// `value` with exactly `decimals` digits after the point (rounded half away from zero), no exponent.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return fixed(0, decimals) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let unit = Int64(scale)
        let whole = scaled / unit
        let fraction = scaled % unit
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(whole) }
        let digits = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
}
