/// A GSM modem's AT side, simulated: bytes the box writes in, the modem's answers out. Put it on a pseudo-terminal
/// (the tests and `panicd sim` do) and `GSMModem` talks to it as to a real modem: echo off, `OK` to `AT` and
/// `AT+CMGF=1`, the `> ` prompt to `AT+CMGS="…"`, and `+CMGS: n` then `OK` after the text and Ctrl-Z.
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
    }

    /// A message the modem accepted.
    public struct Message: Sendable, Hashable {
        public var number: String
        public var text: String
    }

    public var fault: Fault?
    /// How many texts the network refuses (`+CMS ERROR: 500` after the text) before it takes one: a congested SMSC.
    public var refuseTexts: Int
    /// The messages accepted so far, in order.
    public private(set) var sent: [Message] = []
    /// The texts refused so far, in order.
    public private(set) var refused: [Message] = []
    private var line: [UInt8] = []
    private var recipient: String?
    private var nextReference = 1

    public init(fault: Fault? = nil, refuseTexts: Int = 0) {
        self.fault = fault
        self.refuseTexts = refuseTexts
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
        if upper == "AT" { return Array("\r\nOK\r\n".utf8) }
        if upper == "AT+CMGF=1" {
            return fault == .errorOnTextMode ? Array("\r\nERROR\r\n".utf8) : Array("\r\nOK\r\n".utf8)
        }
        if upper.hasPrefix("AT+CMGS=\""), upper.hasSuffix("\"") {
            recipient = String(command.dropFirst("AT+CMGS=\"".count).dropLast())
            return Array("\r\n> ".utf8)
        }
        return Array("\r\nERROR\r\n".utf8)
    }
}
