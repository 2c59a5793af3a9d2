extension AIS140 {
    /// Which family of backends an AIS-140 backend belongs to (`dialect:` in the daemon configuration): the frame
    /// layouts it gets. The session (login, heartbeat answered `$HBT*`, acknowledgement) is the same for both.
    public enum Dialect: String, Sendable, Hashable, CaseIterable, Codable {
        /// Traccar's `its` decoder and the backends that read its layouts: `HLM` health, `EPB,EMR`.
        case traccar
        /// C-DAC-style state backends (e.g. iStartek's "AIS-140 CDAC protocol"): the vendor id in `EPB`
        /// (`$,EPB,VENDOR,EMR,…`) and the health data in the heartbeat (`$,HBT,VENDOR,FIRMWARE,HP,IMEI,…`).
        case cdac
    }

    /// The C-DAC dialect's frames (docs/uplink.md → *AIS-140 dialects*). Pure, like ``AIS140``.
    ///
    /// | frame | shape |
    /// |---|---|
    /// | login | as Traccar's: `$,LGN,REG,IMEI,FIRMWARE,LAT,N,LON,E*` |
    /// | heartbeat and health | `$,HBT,VENDOR,FIRMWARE,HP,IMEI,BATT%,LOWBATT%,MEMORY%,RATE_ON,RATE_OFF,DIN,DOUT,ADC1,ADC2*` |
    /// | tracking | `$,NRM,…` as Traccar's, every radio/supply/ignition field from the record's telemetry |
    /// | emergency, help | `$,EPB,VENDOR,EMR,IMEI,NM/SP,DDMMYYYYHHMMSS,A/V,LAT,N,LON,E,ALT,SPEED,DISTANCE,G,REG,PHONE,CRC32,*` (`HLP` for help) |
    ///
    /// Unknown values: an empty operator, battery or memory percentage; GSM signal `99` (27.007's "not known");
    /// `x` for an unknown MCC, MNC, LAC or cell id (Traccar then skips the cell block); an unlisted neighbour
    /// `99,0000,0000`; ignition `0` when no ignition input is read; voltages `0.0` when not measured (Traccar's
    /// pattern admits only a number there).
    public enum CDAC {
        /// The login packet: the same layout as Traccar's (servers answer it `$LGN…*`).
        public static func login(_ identity: BoxIdentity, fix: RecordFix?) -> String {
            AIS140.login(identity, fix: fix)
        }

        /// The heartbeat: C-DAC's `HBT` carries the health fields; one sent to keep the session alive (no health
        /// record at hand) leaves the battery and memory percentages empty (unknown).
        public static func heartbeat(
            _ identity: BoxIdentity, settings: HealthSettings = .init(), batteryPercent: Int? = nil,
            lowBatteryPercent: Int = 0, memoryPercent: Double? = nil
        ) -> String {
            let fields: [String] = [
                "$", "HBT", field(identity.vendorID), field(identity.firmwareVersion), "HP", identity.imei,
                batteryPercent.map { "\(min(100, max(0, $0)))%" } ?? "",
                "\(min(100, max(0, lowBatteryPercent)))%",  // low-battery threshold: none is configured (0)
                memoryPercent.map { fixed(min(100, max(0, $0)), 2) + "%" } ?? "",
                String(settings.emergencyIntervalSeconds), String(settings.positionIntervalSeconds),
                "0000", "00", fixed(0, 1), fixed(0, 1),
            ]
            return fields.joined(separator: ",") + "*" + lineEnd
        }

        /// The health packet for a health record: the heartbeat layout with the record's battery and the outbox's
        /// fill.
        public static func healthPacket(
            _ record: Record, _ report: HealthReport, identity: BoxIdentity, settings: HealthSettings
        ) -> String {
            let memory =
                settings.capacity > 0 ? min(100, Double(report.queueDepth) * 100 / Double(settings.capacity)) : nil
            return heartbeat(
                identity, settings: settings, batteryPercent: record.telemetry?.supply?.batteryPercent,
                memoryPercent: memory)
        }

        /// The frames a tracking backend of this dialect gets for `record` (see ``AIS140/frames(for:identity:live:health:clearing:)``).
        public static func frames(
            for record: Record, identity: BoxIdentity, live: Bool, health: HealthSettings = .init(),
            clearing: RecordKind? = nil
        ) -> [String] {
            if case .health(let report) = record.body {
                return [healthPacket(record, report, identity: identity, settings: health)]
            }
            guard let tracking = tracking(of: record, clearing: clearing) else { return [] }
            return [trackingPacket(record, tracking, identity: identity, live: live)]
        }

        /// The tracking packet: Traccar's field order, the radio, supply and ignition fields from `record.telemetry`.
        public static func trackingPacket(
            _ record: Record, _ tracking: Tracking, identity: BoxIdentity, live: Bool
        ) -> String {
            let fix = record.fix
            let telemetry = record.telemetry
            let (date, time) = dateTime(record.time)
            let (lat, ns, lon, ew) = coordinates(fix)
            let alert = tracking.alert == .locationUpdate && !live ? AlertID.locationUpdateHistory : tracking.alert
            let supply = telemetry?.supply
            let fields: [String] = [
                "$", "NRM", field(identity.vendorID), field(identity.firmwareVersion), tracking.status.rawValue,
                pad(alert.rawValue, 2), live ? "L" : "H", identity.imei, identity.registrationField,
                isValid(fix) ? "1" : "0", date, time, lat, ns, lon, ew,
                fixed(max(0, fix?.speed ?? 0), 1), fixed(fix?.course ?? 0, 2), String(max(0, fix?.satellites ?? 0)),
                fixed(max(0, fix?.altitude ?? 0), 1), fixed(0, 2), fixed(fix?.hdop ?? 0, 2),
                field(telemetry?.radio?.operatorName ?? ""),
                telemetry?.ignition == true ? "1" : "0",
                tracking.mainPower ? "1" : "0",
                fixed(max(0, supply?.mainVolts ?? 0), 1), fixed(max(0, supply?.backupVolts ?? 0), 1),
                tracking.emergency ? "1" : "0", tracking.enclosureOpen ? "O" : "C",
                cells(telemetry?.radio),
                "0000", "00", pad(Int(record.sequence % 1_000_000), 6),
            ]
            return checksummed(fields)
        }

        /// The emergency packet (`EPB,VENDOR,EMR` or `EPB,VENDOR,HLP`) for an alert record; nil for other records.
        public static func emergencyPacket(_ record: Record, identity: BoxIdentity, live: Bool) -> String? {
            let type: EmergencyType
            switch record.body {
            case .emergency: type = .emergency
            case .help: type = .help
            default: return nil
            }
            let fix = record.fix
            let (date, time) = dateTime(record.time)
            let (lat, ns, lon, ew) = coordinates(fix)
            let fields: [String] = [
                "$", "EPB", field(identity.vendorID), type.rawValue, identity.imei, live ? "NM" : "SP", date + time,
                isValid(fix) ? "A" : "V", lat, ns, lon, ew, fixed(max(0, fix?.altitude ?? 0), 1),
                fixed(max(0, fix?.speed ?? 0), 1), fixed(0, 1), "G", identity.registrationField, "0000000000",
            ]
            return checksummed(fields)
        }

        /// Signal, MCC, MNC, LAC, cell id and four neighbours (signal, LAC, cell id): 17 fields. An unknown signal
        /// is `99` (3GPP TS 27.007's "not known"); an unknown MCC, MNC, LAC or cell id `x` (Traccar then skips the
        /// cell block: cells without their network mean nothing); a neighbour the modem did not list `99,0000,0000`
        /// (LAC and cell id 0 are no cell; Traccar skips such a neighbour and keeps the others).
        static func cells(_ radio: Telemetry.Radio?) -> String {
            func hex(_ value: Int?) -> String {
                guard let value else { return "x" }
                let text = String(max(0, value), radix: 16, uppercase: true)
                return String(repeating: "0", count: max(0, 4 - text.count)) + text
            }
            func signal(_ value: Int?) -> String { value.map { pad(min(31, max(0, $0)), 2) } ?? "99" }
            var fields = [
                signal(radio?.signal), radio?.mcc.map { pad(max(0, $0), 3) } ?? "x",
                radio?.mnc.map { pad(max(0, $0), 2) } ?? "x", hex(radio?.serving?.lac), hex(radio?.serving?.cellID),
            ]
            let neighbours = radio?.neighbours ?? []
            for index in 0..<4 {
                if index < neighbours.count {
                    fields += [
                        signal(neighbours[index].signal), hex(neighbours[index].lac), hex(neighbours[index].cellID),
                    ]
                } else {
                    fields += ["99", "0000", "0000"]
                }
            }
            return fields.joined(separator: ",")
        }

        /// A text field as sent: no separator, terminator or line end (`,`, `*`, `$`, control characters) inside.
        static func field(_ text: String) -> String {
            String(
                String.UnicodeScalarView(
                    text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && !",*$".unicodeScalars.contains($0) })
            )
        }
    }
}
