/// The AIS-140 fields a record's ``Telemetry`` fills, one function per field, so that every frame layout (Traccar's
/// `its` tracking and health packets, and other dialects) formats them alike. Each says what it sends when the value
/// is not known (docs/uplink.md → *AIS-140* → *Telemetry fields*): the protocol's own unknown where it has one
/// (`99` for the signal, empty cells `0,0,0`, `x`), and where its syntax requires a number (voltages, ignition) a
/// documented placeholder that `panicd config check` warns about.
extension AIS140 {
    /// The signal that means "not known" (3GPP TS 27.007 `+CSQ`).
    public static let unknownSignal = 99
    /// Neighbour cells carried in a tracking packet.
    public static let neighbourSlots = 4
    /// Longest network operator name sent.
    public static let operatorLength = 20

    /// The network operator field: the registered network's name as printable ASCII without the frame's separators
    /// (`,` `*` `$`), at most ``operatorLength`` characters; empty when not known (Traccar's pattern allows it).
    public static func operatorField(_ radio: Telemetry.Radio?) -> String {
        guard let name = radio?.operatorName else { return "" }
        return String(textField(name).prefix(operatorLength)).trimmingSpaces
    }

    /// A text field as sent in any frame: printable ASCII only, without the frame's separator, terminator and
    /// start (`,` `*` `$`), so that no value can break a frame.
    public static func textField(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars where scalar.value >= 32 && scalar.value < 127 {
            if scalar == "," || scalar == "*" || scalar == "$" { continue }
            out.unicodeScalars.append(scalar)
        }
        return out
    }

    /// The GSM signal field, 0–31; ``unknownSignal`` (99) when not known.
    public static func signalField(_ signal: Int?) -> String {
        guard let signal, (0...31).contains(signal) else { return String(unknownSignal) }
        return String(signal)
    }

    /// The ignition field: `1` on, `0` off — and `0` when the board has no ignition input (the field is a
    /// required `[01]` in Traccar's pattern; `panicd config check` warns).
    public static func ignitionField(_ ignition: Bool?) -> String { ignition == true ? "1" : "0" }

    /// The vehicle's ignition as a tracking packet reports it: an ignition record's own state (an `IN` packet says
    /// on, `IF` off — Traccar takes the ignition field over the status), else the record's reading.
    public static func ignition(of record: Record, _ tracking: Tracking) -> Bool? {
        switch tracking.status {
        case .ignitionOn: true
        case .ignitionOff: false
        default: record.telemetry?.ignition
        }
    }

    /// The main-power flag: `0` in a packet about power lost (and a boot that found it absent), and in any packet made
    /// while the main power sense said absent; else `1`.
    public static func mainPowerField(_ record: Record, _ tracking: Tracking) -> String {
        tracking.mainPower && record.telemetry?.mainPower != false ? "1" : "0"
    }

    /// The emergency flag: `1` in the emergency packet (`EA`) and in every position packet made while an emergency is
    /// open on the box (AIS-140's emergency state is on until it is cleared; a position's status stays `NR`, so no
    /// backend reads a new SOS from it); `0` otherwise — help is never an emergency.
    public static func emergencyField(_ record: Record, _ tracking: Tracking) -> String {
        tracking.emergency || (record.kind == .position && record.telemetry?.emergencyOpen == true) ? "1" : "0"
    }

    /// The tamper field: `O` for an enclosure-open packet (and a boot that found it open), and in any packet made
    /// while the enclosure sense said open; else `C`.
    public static func enclosureField(_ record: Record, _ tracking: Tracking) -> String {
        tracking.enclosureOpen || record.telemetry?.enclosureOpen == true ? "O" : "C"
    }

    /// A voltage field in volts with one decimal; `0.0` when not measured (a required number in Traccar's pattern;
    /// `panicd config check` warns that the board has no supply monitor).
    public static func voltageField(_ volts: Double?) -> String { fixed(max(0, volts ?? 0), 1) }

    /// The health packet's battery percentage, 0–100; `x` when not known (never a 0 standing for unknown).
    public static func batteryPercentField(_ percent: Int?) -> String {
        guard let percent, (0...100).contains(percent) else { return "x" }
        return String(percent)
    }

    /// A LAC or cell id as upper-case hexadecimal (Traccar reads both in base 16).
    public static func hexField(_ value: Int) -> String { String(max(0, value), radix: 16, uppercase: true) }

    /// The cell block of a tracking packet, 17 fields: `SIGNAL,MCC,MNC,LAC,CID` (LAC and CID in hex) then
    /// ``neighbourSlots`` × `SIGNAL,LAC,CID` for the neighbours.
    ///
    /// - The signal is ``signalField(_:)`` (99 when not known).
    /// - When the serving cell or the network code is not known, MCC, MNC, LAC and CID are `x`: Traccar then skips
    ///   the whole block (it drops a block holding an `x`), rather than storing a cell 0 that looks like a reading.
    /// - A neighbour slot with no cell is `0,0,0`: Traccar skips neighbours whose LAC or CID is 0. A neighbour whose
    ///   signal is not known carries 99.
    public static func cellBlock(_ radio: Telemetry.Radio?) -> String {
        var fields = [signalField(radio?.signal)]
        if let radio, let mcc = radio.mcc, let mnc = radio.mnc, let serving = radio.serving {
            fields += [String(mcc), String(mnc), hexField(serving.lac), hexField(serving.cellID)]
        } else {
            fields += Array(repeating: "x", count: 4)
        }
        let neighbours = (radio?.neighbours ?? []).filter { $0.lac > 0 && $0.cellID > 0 }.prefix(neighbourSlots)
        for cell in neighbours {
            fields += [signalField(cell.signal), hexField(cell.lac), hexField(cell.cellID)]
        }
        for _ in neighbours.count..<neighbourSlots { fields += ["0", "0", "0"] }
        return fields.joined(separator: ",")
    }
}
