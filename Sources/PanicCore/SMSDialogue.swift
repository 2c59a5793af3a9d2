/// The AT dialogue that sends one text message through a GSM modem in text mode, as a pure state machine: the shell
/// writes what it returns and feeds it every line (or the `> ` prompt) the modem answers.
///
/// ```
/// AT                      → OK
/// AT+CMGF=1               → OK          (text mode)
/// AT+CMGS="+919812345678" → "> "        (the modem asks for the text)
/// <text> Ctrl-Z           → +CMGS: 17, then OK   (sent: message reference 17)
/// ```
/// `ERROR` or `+CMS ERROR: n` at any step fails the dialogue (`+CMS ERROR` to the text: refused, known not sent);
/// unsolicited lines (`RING`, `+CREG: …`, an echo of the
/// command) are ignored.
public struct SMSDialogue: Sendable {
    /// Where the dialogue stands.
    public enum Step: Sendable, Hashable {
        case attention, textMode, recipient, body, confirming
        case sent(reference: Int)
        case failed(String)
    }

    /// What the shell does next.
    public enum Action: Sendable, Hashable {
        /// Write these bytes to the modem.
        case write([UInt8])
        /// Keep reading.
        case wait
        /// The modem accepted the message (`+CMGS: reference` then `OK`).
        case sent(reference: Int)
        /// The dialogue failed; `reason` says at which step and how.
        case failed(String)
    }

    public private(set) var step: Step = .attention
    /// Whether the text has been handed to the modem (Ctrl-Z written) and may have gone out: from here on a failure
    /// or a power cut leaves it unknown whether the message went out — except the network's `+CMS ERROR` refusal of
    /// the text, which says it did not (false again after it).
    public var textHandedOver: Bool {
        switch step {
        case .confirming, .sent: true
        case .failed: handedOver
        default: false
        }
    }
    private var handedOver = false
    private var reference: Int?
    private let number: String
    private let text: String

    /// Longest text sent: one GSM 7-bit message.
    public static let maximumLength = 160

    public init(number: String, text: String) {
        self.number = number
        self.text = String(text.prefix(SMSDialogue.maximumLength))
    }

    /// Whether `number` is a phone number the dialogue can put in `AT+CMGS="…"`: an optional `+` and 3 to 15 digits.
    public static func isValidNumber(_ number: String) -> Bool {
        let digits = number.hasPrefix("+") ? number.dropFirst() : Substring(number)
        return (3...15).contains(digits.count) && digits.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// The first command.
    public mutating func start() -> Action {
        step = .attention
        return .write(Array("AT\r".utf8))
    }

    /// Feeds one line the modem sent (without its line end), or `>` for the text prompt.
    public mutating func received(_ line: String) -> Action {
        let line = line.trimmingSpaces
        if line.isEmpty { return .wait }
        if line == "ERROR" || line.hasPrefix("+CMS ERROR") || line.hasPrefix("+CME ERROR") {
            // `+CMS ERROR` to the text is the network's refusal of it: it did not go out, and may be sent again.
            if step == .confirming, line.hasPrefix("+CMS ERROR") { handedOver = false }
            return fail("\(describe(step)): the modem answered \(LogText.quoted(line, limit: 40))")
        }
        switch step {
        case .attention where line == "OK":
            step = .textMode
            return .write(Array("AT+CMGF=1\r".utf8))
        case .textMode where line == "OK":
            step = .recipient
            return .write(Array("AT+CMGS=\"\(number)\"\r".utf8))
        case .recipient where line.hasPrefix(">"):
            step = .confirming
            handedOver = true
            // Only printable ASCII goes to the modem: a stray Ctrl-Z or escape in the text would end or cancel it.
            let bytes = text.utf8.map { $0 >= 32 && $0 < 127 ? $0 : UInt8(ascii: "?") }
            return .write(bytes + [0x1A])
        case .confirming where line.hasPrefix("+CMGS:"):
            let number = line.dropFirst("+CMGS:".count).trimmingSpaces
            guard let value = Int(number) else {
                return fail("sending: unreadable answer \(LogText.quoted(line, limit: 40))")
            }
            reference = value
            return .wait
        case .confirming where line == "OK":
            guard let reference else { return fail("sending: OK without +CMGS") }
            step = .sent(reference: reference)
            return .sent(reference: reference)
        default:
            // An echo, an unsolicited result code or a stale OK: not an answer to this step.
            return .wait
        }
    }

    /// The step's deadline passed without an answer.
    public mutating func timedOut() -> Action { fail("\(describe(step)): no answer from the modem") }

    private mutating func fail(_ reason: String) -> Action {
        step = .failed(reason)
        return .failed(reason)
    }

    private func describe(_ step: Step) -> String {
        switch step {
        case .attention: "AT"
        case .textMode: "AT+CMGF=1"
        case .recipient: "AT+CMGS"
        case .body, .confirming: "sending the text"
        case .sent: "sent"
        case .failed: "failed"
        }
    }
}

/// The short text an alert becomes: kind, vehicle or booth, position with a map link, time, fix age.
public enum SMSText {
    public static func compose(for record: Record, place: String) -> String {
        let kind: String
        switch record.body {
        case .emergency: kind = "EMERGENCY"
        case .help: kind = "HELP"
        case .tamper(let reason, _): kind = reason == .wireCut ? "TAMPER (wire cut)" : "TAMPER (box opened)"
        default: kind = record.kind.rawValue.uppercased()
        }
        var text = "PANIC \(kind) \(place)"
        if let fix = record.fix {
            let lat = AIS140.fixed(fix.latitude, 5)
            let lon = AIS140.fixed(fix.longitude, 5)
            text += " https://maps.google.com/?q=\(lat),\(lon) fix \(fix.ageMilliseconds / 1000)s old"
        } else {
            text += " no GNSS fix"
        }
        let time = record.time.description
        text += " at \(time.prefix(16).replacingSpace())Z"
        return String(text.prefix(SMSDialogue.maximumLength))
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\r" || first == "\n" || first == "\r\n" {
            scalars.removeFirst()
        }
        while let last = scalars.last, last == " " || last == "\r" || last == "\n" || last == "\r\n" {
            scalars.removeLast()
        }
        return String(scalars)
    }

    /// `2026-11-20T08:30` → `2026-11-20 08:30`.
    func replacingSpace() -> String { String(map { $0 == "T" ? " " : $0 }) }
}

/// How a number gets its alert texts.
public enum SMSFormat: String, Sendable, Hashable, CaseIterable {
    /// The AIS-140 §3.1.5 emergency-SMS fields, comma-separated, for a state SMS gateway that parses them.
    case fields
    /// A sentence with a map link, for a person's phone.
    case text
}

extension SMSText {
    /// What a field the box does not know is sent as (the AIS-140 frames' convention for unknown cell data): never a
    /// 0 that a gateway would read as a measurement.
    public static let unknown = "x"

    /// The text for `record` in `format`.
    public static func compose(
        for record: Record, format: SMSFormat, place: String, imei: String?
    ) -> String {
        switch format {
        case .text: compose(for: record, place: place)
        case .fields: fields(for: record, imei: imei)
        }
    }

    /// The AIS-140 §3.1.5 emergency SMS: `IMEI,LAT,N/S,LON,E/W,FIX,SPEED,CELL_ID,LAC,DDMMYYYYHHMMSS,KIND`.
    ///
    /// The first ten fields are the standard's, in its order: the IMEI; the position as unsigned degrees with six
    /// decimals and its hemispheres; `A` (a fix at most `AIS140.validFixAgeMilliseconds` old) or `V` (older: the
    /// last known position); the speed in km/h with one decimal; the serving cell's id and location area code; the
    /// record's UTC date and time. The eleventh, after them so that a gateway reading ten fields by position is not
    /// disturbed, says which alert it is: `EMR` (emergency), `HLP` (help), `WCT` (wire cut), `BOP` (box opened).
    /// The Cell ID and LAC are the record's serving cell (`telemetry.radio.serving`, read from the modem) in
    /// upper-case hexadecimal, as the AIS-140 tracking packet carries them. A field the box does not know is `x`
    /// (`unknown`): no IMEI configured, no fix ever, no speed, no serving cell (no modem reading, not registered).
    public static func fields(for record: Record, imei: String?) -> String {
        let fix = record.fix
        let position: [String]
        if let fix {
            position = [
                AIS140.fixed(abs(fix.latitude), 6), fix.latitude < 0 ? "S" : "N",
                AIS140.fixed(abs(fix.longitude), 6), fix.longitude < 0 ? "W" : "E",
            ]
        } else {
            position = [unknown, unknown, unknown, unknown]
        }
        let (date, time) = AIS140.dateTime(record.time)
        let fields =
            [imei ?? unknown] + position + [
                AIS140.isValid(fix) ? "A" : "V",
                fix?.speed.map { AIS140.fixed(max(0, $0), 1) } ?? unknown,
                record.telemetry?.radio?.serving.map { AIS140.hexField($0.cellID) } ?? unknown,
                record.telemetry?.radio?.serving.map { AIS140.hexField($0.lac) } ?? unknown,
                date + time, kindCode(record.body),
            ]
        return fields.joined(separator: ",")
    }

    /// The alert-kind field of `fields(for:imei:)`.
    static func kindCode(_ body: RecordBody) -> String {
        switch body {
        case .emergency: "EMR"
        case .help: "HLP"
        case .tamper(.wireCut, _): "WCT"
        case .tamper(.enclosure, _): "BOP"
        default: unknown
        }
    }
}
