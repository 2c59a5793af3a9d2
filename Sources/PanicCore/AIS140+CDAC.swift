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
    /// Unknown values: an empty battery or memory percentage in the heartbeat; the tracking packet's fields are
    /// Traccar's layout's, with its unknowns (``AIS140/cellBlock(_:)``, ``AIS140/voltageField(_:)``).
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
                "$", "HBT", textField(identity.vendorID), textField(identity.firmwareVersion), "HP", identity.imei,
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

        /// The tracking packet: Traccar's layout and fields, one implementation (``AIS140/trackingPacket(_:_:identity:live:)``).
        public static func trackingPacket(
            _ record: Record, _ tracking: Tracking, identity: BoxIdentity, live: Bool
        ) -> String {
            AIS140.trackingPacket(record, tracking, identity: identity, live: live)
        }

        /// The emergency packet (`EPB,VENDOR,EMR` or `EPB,VENDOR,HLP`) for an alert record; nil for other records.
        public static func emergencyPacket(_ record: Record, identity: BoxIdentity, live: Bool) -> String? {
            AIS140.emergencyPacket(record, identity: identity, live: live, vendor: textField(identity.vendorID))
        }
    }
}
