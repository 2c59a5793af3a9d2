/// Reading a GSM/LTE modem's answers about its radio (3GPP TS 27.007 `+CSQ`, `+COPS?`, `+CREG?`, and SIMCom's
/// `+CENG?` neighbour list), as pure code: the shell (`ATRadioMonitor` in PanicLinux, the simulated modem's tests)
/// collects the lines a command answered up to its final `OK`, and these functions say what they mean.
///
/// | command | answer | read as |
/// |---|---|---|
/// | `AT+CSQ` | `+CSQ: 17,99` | signal 17 (0–31); `99` = not known → nil |
/// | `AT+COPS=3,0` then `AT+COPS?` | `+COPS: 0,0,"IND airtel"` | operator name; `+COPS: 0` = not registered |
/// | `AT+COPS=3,2` then `AT+COPS?` | `+COPS: 0,2,"40445"` | MCC 404, MNC 45 (a 6-digit code: 3-digit MNC) |
/// | `AT+CREG=2` then `AT+CREG?` | `+CREG: 2,1,"1A2B","0C0FFE"` | registered (1 home, 5 roaming); LAC, CI in hex |
/// | `AT+CENG=1,1` then `AT+CENG?` | `+CENG: 1,"0018,28,35,3b58,404,45,0095"` | SIM800 neighbour: rxlev, cell id, LAC |
///
/// `ERROR`, `+CME ERROR: …` or an answer that does not parse is an error naming the command and the answer; the
/// caller leaves that value unknown.
public enum ModemAnswers {
    /// Why an answer was not understood.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Whether `line` ends a command's answer: `OK`, `ERROR`, `+CME ERROR: n` or `+CMS ERROR: n`.
    public static func isFinal(_ line: String) -> Bool {
        let line = line.trimmingSpaces
        return line == "OK" || line == "ERROR" || line.hasPrefix("+CME ERROR") || line.hasPrefix("+CMS ERROR")
    }

    /// The signal on the 0–31 scale from `AT+CSQ`'s answer; nil when the modem says 99 (not known).
    public static func signal(_ lines: [String]) throws(Failure) -> Int? {
        let fields = try fields(of: "+CSQ", in: lines, command: "AT+CSQ")
        guard let rssi = fields.first.flatMap({ Int($0) }) else {
            throw Failure("AT+CSQ: unreadable answer \(quoted(lines))")
        }
        if rssi == 99 { return nil }
        guard (0...31).contains(rssi) else { throw Failure("AT+CSQ: signal \(rssi) outside 0–31 and not 99") }
        return rssi
    }

    /// What `AT+COPS?` says: the operator in the format the modem was set to (long name, or numeric MCC+MNC);
    /// nil when not registered (`+COPS: 0`).
    public enum Operator: Sendable, Hashable {
        case name(String)
        case numeric(mcc: Int, mnc: Int)
    }

    /// The registered operator from `AT+COPS?`'s answer; nil when the modem is not registered.
    public static func `operator`(_ lines: [String]) throws(Failure) -> Operator? {
        let fields = try fields(of: "+COPS", in: lines, command: "AT+COPS?")
        guard fields.count >= 3 else {
            if fields.count == 1, Int(fields[0]) != nil { return nil }
            throw Failure("AT+COPS?: unreadable answer \(quoted(lines))")
        }
        guard let format = Int(fields[1]), let name = unquoted(fields[2]) else {
            throw Failure("AT+COPS?: unreadable answer \(quoted(lines))")
        }
        switch format {
        case 0, 1:
            let printable = String(
                String.UnicodeScalarView(name.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }))
            guard !printable.isEmpty else { return nil }
            return .name(printable)
        case 2:
            guard (5...6).contains(name.count), name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let mcc = Int(name.prefix(3)), let mnc = Int(name.dropFirst(3))
            else { throw Failure("AT+COPS?: numeric operator \(LogText.quoted(name, limit: 20)) is not MCC+MNC") }
            return .numeric(mcc: mcc, mnc: mnc)
        default:
            throw Failure("AT+COPS?: unknown operator format \(format)")
        }
    }

    /// The serving cell from `AT+CREG?` (after `AT+CREG=2`); nil when the modem is not registered (stat other than
    /// 1 home or 5 roaming) or gives no location.
    public static func servingCell(_ lines: [String]) throws(Failure) -> Telemetry.Cell? {
        var fields = try fields(of: "+CREG", in: lines, command: "AT+CREG?")
        // The query's answer starts with <n>; the unsolicited result code (which may come first) does not.
        if fields.count >= 2, unquoted(fields[1]) == nil || fields.count == 2 { fields.removeFirst() }
        guard let stat = fields.first.flatMap({ Int($0) }) else {
            throw Failure("AT+CREG?: unreadable answer \(quoted(lines))")
        }
        guard stat == 1 || stat == 5 else { return nil }
        guard fields.count >= 3 else { return nil }
        guard let lacText = unquoted(fields[1]), let cellText = unquoted(fields[2]),
            let lac = Int(lacText, radix: 16), let cell = Int(cellText, radix: 16), lac >= 0, cell >= 0
        else { throw Failure("AT+CREG?: unreadable location in \(quoted(lines))") }
        guard lac > 0, cell > 0 else { return nil }
        return Telemetry.Cell(lac: lac, cellID: cell)
    }

    /// The neighbour cells from SIMCom's (SIM800/SIM900) `AT+CENG?` after `AT+CENG=1,1`: every
    /// `+CENG: <cell>,"<bcch>,<rxl>,<bsic>,<cellid>,<mcc>,<mnc>,<lac>"` line with `cell` ≥ 1 and a real cell id and
    /// LAC (hex), its RxLev (0–63) turned into the `+CSQ` scale. The serving-cell line (`cell` 0) is not read here.
    public static func neighbours(_ lines: [String]) throws(Failure) -> [Telemetry.Cell] {
        if lines.contains(where: { isFinal($0) && $0.trimmingSpaces != "OK" }) {
            throw Failure("AT+CENG?: the modem answered \(quoted(lines))")
        }
        var cells: [Telemetry.Cell] = []
        for line in lines {
            let line = line.trimmingSpaces
            guard line.hasPrefix("+CENG:") else { continue }
            let rest = line.dropFirst("+CENG:".count).trimmingSpaces
            guard let comma = rest.firstIndex(of: ","), let index = Int(rest[..<comma].trimmingSpaces), index >= 1,
                let inner = unquoted(String(rest[rest.index(after: comma)...]))
            else { continue }
            let parts = inner.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            guard parts.count >= 7 else {
                throw Failure("AT+CENG?: unreadable neighbour \(LogText.quoted(line, limit: 60))")
            }
            guard let rxlev = Int(parts[1]), let cell = Int(parts[3], radix: 16), let lac = Int(parts[6], radix: 16)
            else { throw Failure("AT+CENG?: unreadable neighbour \(LogText.quoted(line, limit: 60))") }
            // Empty slots are listed as cell id ffff / lac 0 or all zeros.
            guard cell > 0, cell != 0xFFFF, lac > 0, lac != 0xFFFF else { continue }
            cells.append(Telemetry.Cell(lac: lac, cellID: cell, signal: csq(fromRxLev: rxlev)))
        }
        return cells
    }

    /// GSM RxLev (0–63: −110 dBm + n) on the `+CSQ` scale (0–31: −113 dBm + 2n).
    public static func csq(fromRxLev rxlev: Int) -> Int? {
        guard (0...63).contains(rxlev) else { return nil }
        return min(31, max(0, (rxlev + 3) / 2))
    }

    /// The comma-separated values of the `prefix:` line in `lines`; throws when the modem answered an error or
    /// no such line came.
    static func fields(of prefix: String, in lines: [String], command: String) throws(Failure) -> [String] {
        var found: [String]?
        for line in lines {
            let line = line.trimmingSpaces
            if isFinal(line), line != "OK" {
                throw Failure("\(command): the modem answered \(LogText.quoted(line, limit: 40))")
            }
            if line.hasPrefix(prefix + ":") {
                let rest = line.dropFirst(prefix.count + 1)
                found = splitOutsideQuotes(String(rest)).map { $0.trimmingSpaces }
            }
        }
        guard let found else { throw Failure("\(command): no \(prefix) line in \(quoted(lines))") }
        return found
    }

    static func splitOutsideQuotes(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == ",", !quoted {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    /// The text between double quotes, or nil when `field` is not quoted.
    static func unquoted(_ field: String) -> String? {
        let field = field.trimmingSpaces
        guard field.count >= 2, field.hasPrefix("\""), field.hasSuffix("\"") else { return nil }
        return String(field.dropFirst().dropLast())
    }

    static func quoted(_ lines: [String]) -> String {
        LogText.quoted(lines.map { $0.trimmingSpaces }.filter { !$0.isEmpty }.joined(separator: " "), limit: 80)
    }
}

/// One reading of the modem's radio as a pure sequence: the shell writes each ``Step/command`` (with a CR), collects
/// the lines up to the final result (``ModemAnswers/isFinal(_:)``) and hands them to ``answered(_:lines:)``. A step
/// the modem refuses or answers with garbage leaves its values unknown and adds a problem; the other steps go on.
///
/// The neighbour list is SIMCom's (SIM800/SIM900 `AT+CENG`); other modems answer `ERROR` and the box sends no
/// neighbours (docs/uplink.md → *Telemetry*).
public struct RadioReading: Sendable {
    public enum Step: String, Sendable, CaseIterable {
        case signal = "AT+CSQ"
        case nameFormat = "AT+COPS=3,0"
        case name = "AT+COPS?"
        case numericFormat = "AT+COPS=3,2"
        case numeric = "AT+COPS?#numeric"
        case registrationMode = "AT+CREG=2"
        case registration = "AT+CREG?"
        case engineeringMode = "AT+CENG=1,1"
        case neighbours = "AT+CENG?"

        /// The command line to write (without its CR).
        public var command: String {
            self == .numeric ? "AT+COPS?" : rawValue
        }
    }

    public private(set) var radio = Telemetry.Radio()
    /// What went wrong, one line per refused or unreadable step.
    public private(set) var problems: [String] = []
    /// Whether any step was understood (a modem that answered nothing usable gives no reading).
    public private(set) var understood = false

    public init() {}

    /// Feeds the lines `step` was answered with (up to and including the final result code).
    public mutating func answered(_ step: Step, lines: [String]) {
        do throws(ModemAnswers.Failure) {
            switch step {
            case .signal: radio.signal = try ModemAnswers.signal(lines)
            case .name:
                if case .name(let name) = try ModemAnswers.operator(lines) { radio.operatorName = name }
            case .numeric:
                if case .numeric(let mcc, let mnc) = try ModemAnswers.operator(lines) {
                    (radio.mcc, radio.mnc) = (mcc, mnc)
                }
            case .registration: radio.serving = try ModemAnswers.servingCell(lines)
            case .neighbours: radio.neighbours = try ModemAnswers.neighbours(lines)
            case .nameFormat, .numericFormat, .registrationMode, .engineeringMode:
                let final = lines.last { ModemAnswers.isFinal($0) }?.trimmingSpaces
                guard final == "OK" else {
                    throw ModemAnswers.Failure("\(step.command): the modem answered \(ModemAnswers.quoted(lines))")
                }
            }
            understood = true
        } catch {
            problems.append(error.reason)
        }
    }

    /// The step's deadline passed without a final result.
    public mutating func timedOut(_ step: Step) { problems.append("\(step.command): no answer from the modem") }

    /// The steps that cannot help once `step` failed (its values are what they would read).
    public static func dependents(of step: Step) -> [Step] {
        switch step {
        case .nameFormat: [.name]
        case .numericFormat: [.numeric]
        case .registrationMode: [.registration]
        case .engineeringMode: [.neighbours]
        default: []
        }
    }
}
