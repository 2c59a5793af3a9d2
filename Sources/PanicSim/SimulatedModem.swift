import PanicCore

/// A GSM modem's AT side, simulated: bytes the box writes in, the modem's answers out. Put it on a pseudo-terminal
/// (the tests and `panicd sim` do) and `GSMModem` talks to it as to a real modem: echo off, `OK` to `AT` and
/// `AT+CMGF=1`, the `> ` prompt to `AT+CMGS="…"`, and `+CMGS: n` then `OK` after the text and Ctrl-Z; and the radio
/// queries (`AT+CSQ`, `AT+COPS?`, `AT+CREG?`, SIM800's `AT+CENG?`) from ``radio``.
public struct SimulatedModem: Sendable {
    /// How the modem misbehaves.
    public enum Fault: Sendable, Hashable {
        /// `ERROR` to `AT+CMGF=1` (no SIM, or text mode unsupported).
        case errorOnTextMode
        /// `+CMS ERROR: code` after the text (e.g. 330: SMSC address unknown; 500: unknown error).
        case cmsError(Int)
        /// Never answers anything.
        case silent
        /// Takes the text but never confirms it: the moment a power cut leaves the message unknown.
        case silentAfterText
        /// `ERROR` to every command but `AT` (a modem without a SIM, or one that understands nothing asked).
        case errorOnEverything
    }

    /// A message the modem accepted.
    public struct Message: Sendable, Hashable {
        public var number: String
        public var text: String
    }

    /// The network the modem reports to `AT+CSQ`, `AT+COPS?`, `AT+CREG?` and (SIMCom SIM800's) `AT+CENG?`.
    public struct Radio: Sendable, Hashable {
        /// 0–31, or nil: `+CSQ: 99,99` (not known).
        public var signal: Int?
        public var operatorName: String
        public var mcc: Int
        public var mnc: Int
        /// Whether the modem is registered (`+CREG` stat 1); not registered: `+COPS: 0`, stat 2 (searching).
        public var registered: Bool
        public var lac: Int
        public var cellID: Int
        /// Neighbour cells: LAC, cell id, RxLev (0–63) as `+CENG:` lists them.
        public var neighbours: [Neighbour]

        public struct Neighbour: Sendable, Hashable {
            public var lac: Int
            public var cellID: Int
            public var rxlev: Int
            public init(lac: Int, cellID: Int, rxlev: Int) {
                self.lac = lac
                self.cellID = cellID
                self.rxlev = rxlev
            }
        }

        public init(
            signal: Int? = 17, operatorName: String = "IND airtel", mcc: Int = 404, mnc: Int = 45,
            registered: Bool = true, lac: Int = 0x1A2B, cellID: Int = 0x0C0FFE,
            neighbours: [Neighbour] = [
                .init(lac: 0x1A2B, cellID: 0x3B58, rxlev: 28), .init(lac: 0x1A2C, cellID: 0x3B5A, rxlev: 20),
            ]
        ) {
            self.signal = signal
            self.operatorName = operatorName
            self.mcc = mcc
            self.mnc = mnc
            self.registered = registered
            self.lac = lac
            self.cellID = cellID
            self.neighbours = neighbours
        }

        /// What a correct reading of this modem gives.
        public var telemetry: Telemetry.Radio {
            guard registered else { return Telemetry.Radio(signal: signal) }
            return Telemetry.Radio(
                signal: signal, operatorName: operatorName, mcc: mcc, mnc: mnc,
                serving: .init(lac: lac, cellID: cellID),
                neighbours: neighbours.map {
                    .init(lac: $0.lac, cellID: $0.cellID, signal: ModemAnswers.csq(fromRxLev: $0.rxlev))
                })
        }
    }

    public var fault: Fault?
    /// The network it reports (scriptable: a scenario or test changes it between readings).
    public var radio = Radio()
    /// Every command line received, in order (the tests check that an SMS dialogue was never interleaved).
    public private(set) var commands: [String] = []
    private var operatorFormat = 0
    private var registrationMode = 0
    private var engineering = false
    /// How many texts the network refuses (`+CMS ERROR: 500` after the text) before it takes one: a congested SMSC.
    public var refuseTexts: Int
    /// The messages accepted so far, in order.
    public private(set) var sent: [Message] = []
    /// The texts refused so far, in order.
    public private(set) var refused: [Message] = []
    /// Messages received and not yet deleted (``deliver(_:from:)``), by index, each with whether it was read.
    public private(set) var inbox: [Int: (message: Message, read: Bool)] = [:]
    private var nextIndex = 1
    private var line: [UInt8] = []
    private var recipient: String?
    private var nextReference = 1

    public init(fault: Fault? = nil, refuseTexts: Int = 0) {
        self.fault = fault
        self.refuseTexts = refuseTexts
    }

    /// A text message arrives from `number` (a test or scenario injects it): stored under the next index, listed by
    /// `AT+CMGL`, removed by `AT+CMGD`. Returns the `+CMTI` notice a real modem would print.
    @discardableResult
    public mutating func deliver(_ text: String, from number: String) -> String {
        let index = nextIndex
        nextIndex += 1
        inbox[index] = (Message(number: number, text: text), false)
        return "+CMTI: \"SM\",\(index)"
    }

    /// `AT+CMGL="REC UNREAD"` / `"ALL"`: each message's header and text, then `OK`; listed messages become read.
    private mutating func list(all: Bool) -> [UInt8] {
        var out = ""
        for index in inbox.keys.sorted() {
            guard let entry = inbox[index], all || !entry.read else { continue }
            let status = entry.read ? "REC READ" : "REC UNREAD"
            out += "\r\n+CMGL: \(index),\"\(status)\",\"\(entry.message.number)\",,\"26/12/07,09:00:00+22\"\r\n"
            out += entry.message.text
            inbox[index]?.read = true
        }
        return Array((out + "\r\n\r\nOK\r\n").utf8)
    }

    /// Feeds what the box wrote; returns what the modem answers.
    public mutating func receive(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for byte in bytes {
            if let number = recipient {
                // Text mode: everything up to Ctrl-Z (send) or ESC (cancel) is the message.
                if byte == 0x1A {
                    recipient = nil
                    let text = String(decoding: line, as: UTF8.self)
                    line.removeAll()
                    if refuseTexts > 0, fault == nil {
                        refuseTexts -= 1
                        refused.append(Message(number: number, text: text))
                        out += Array("\r\n+CMS ERROR: 500\r\n".utf8)
                        continue
                    }
                    switch fault {
                    case .silent, .silentAfterText: continue
                    case .cmsError(let code): out += Array("\r\n+CMS ERROR: \(code)\r\n".utf8)
                    default:
                        sent.append(Message(number: number, text: text))
                        out += Array("\r\n+CMGS: \(nextReference)\r\n\r\nOK\r\n".utf8)
                        nextReference += 1
                    }
                } else if byte == 0x1B {
                    recipient = nil
                    line.removeAll()
                } else {
                    line.append(byte)
                }
                continue
            }
            guard byte == 13 else {
                if byte != 10 { line.append(byte) }
                continue
            }
            let command = String(decoding: line, as: UTF8.self)
            line.removeAll()
            if fault == .silent { continue }
            out += answer(command)
        }
        return out
    }

    private mutating func answer(_ command: String) -> [UInt8] {
        let upper = command.uppercased()
        commands.append(command)
        if upper == "AT" { return Array("\r\nOK\r\n".utf8) }
        if fault == .errorOnEverything { return Array("\r\nERROR\r\n".utf8) }
        if let radioAnswer = radioAnswer(upper) { return Array(("\r\n" + radioAnswer + "\r\n").utf8) }
        if upper == "AT+CMGF=1" {
            return fault == .errorOnTextMode ? Array("\r\nERROR\r\n".utf8) : Array("\r\nOK\r\n".utf8)
        }
        if upper == "AT+CMGL=\"REC UNREAD\"" || upper == "AT+CMGL=\"ALL\"" {
            return list(all: upper.hasSuffix("\"ALL\""))
        }
        if upper.hasPrefix("AT+CMGD="), let index = Int(upper.dropFirst("AT+CMGD=".count)) {
            return inbox.removeValue(forKey: index) == nil
                ? Array("\r\n+CMS ERROR: 321\r\n".utf8) : Array("\r\nOK\r\n".utf8)
        }
        if upper.hasPrefix("AT+CMGS=\""), upper.hasSuffix("\"") {
            recipient = String(command.dropFirst("AT+CMGS=\"".count).dropLast())
            return Array("\r\n> ".utf8)
        }
        return Array("\r\nERROR\r\n".utf8)
    }

    /// The answer (lines joined by CR LF) to a radio command, or nil when `upper` is not one.
    private mutating func radioAnswer(_ upper: String) -> String? {
        let hex = { (value: Int) in "\"" + String(value, radix: 16, uppercase: true) + "\"" }
        let pad = { (value: Int, width: Int) in
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        switch upper {
        case "AT+CSQ": return "+CSQ: \(radio.signal ?? 99),99\r\n\r\nOK"
        case "AT+COPS=3,0", "AT+COPS=3,2":
            operatorFormat = upper.hasSuffix("0") ? 0 : 2
            return "OK"
        case "AT+COPS?":
            guard radio.registered else { return "+COPS: 0\r\n\r\nOK" }
            let mnc = radio.mnc < 10 ? "0\(radio.mnc)" : String(radio.mnc)
            let name = operatorFormat == 2 ? "\(radio.mcc)\(mnc)" : radio.operatorName
            return "+COPS: 0,\(operatorFormat),\"\(name)\",7\r\n\r\nOK"
        case "AT+CREG=0", "AT+CREG=1", "AT+CREG=2":
            registrationMode = Int(String(upper.last!))!
            return "OK"
        case "AT+CREG?":
            guard radio.registered else { return "+CREG: \(registrationMode),2\r\n\r\nOK" }
            let location = registrationMode == 2 ? ",\(hex(radio.lac)),\(hex(radio.cellID))" : ""
            return "+CREG: \(registrationMode),1\(location)\r\n\r\nOK"
        case "AT+CENG=1,1":
            engineering = true
            return "OK"
        case "AT+CENG?":
            guard engineering else { return "+CENG: 0,0\r\n\r\nOK" }
            var lines = ["+CENG: 1,1"]
            if radio.registered {
                let rxlev = min(63, max(0, (radio.signal ?? 0) * 2 - 3))
                lines.append(
                    "+CENG: 0,\"0024,\(rxlev),00,\(radio.mcc),\(radio.mnc),34,\(pad(radio.cellID, 4)),10,05,"
                        + "\(pad(radio.lac, 4)),255\"")
                for (index, cell) in radio.neighbours.prefix(6).enumerated() {
                    lines.append(
                        "+CENG: \(index + 1),\"0018,\(cell.rxlev),35,\(pad(cell.cellID, 4)),\(radio.mcc),\(radio.mnc),"
                            + "\(pad(cell.lac, 4))\"")
                }
            }
            return lines.joined(separator: "\r\n") + "\r\n\r\nOK"
        default: return nil
        }
    }
}
