/// AIS-140 over-the-air configuration commands (`SET`, `GET`, `CLR`) as a backend sends them on the kept session or
/// a whitelisted number texts them, parsed into a typed command (docs/uplink.md → *AIS-140 OTA commands*).
///
/// The syntax follows the vendor command manuals the state backends are written against (e.g. tnavIC's AIS140
/// protocol description, "AIS140 Configuration Commands"):
///
/// - `SET KEY:VALUE[,KEY:VALUE…]`, `GET KEY[,KEY…]`, `CLR KEY[,KEY…]`: the verb, one space, comma-separated keys;
/// - an optional shared PIN in front, as SMS commands carry it: `PIN,SET KEY:VALUE`;
/// - `EO` (emergency off) takes no value and is accepted as `CLR EO` and as the manuals' `SET EO`.
///
/// Pure: it says what was asked and whether the text is well formed; what a key means on this box and whether it
/// may be changed is decided by the mapper (`AIS140OTAMapper` in PanicConfig), which turns a command into the same
/// overlay a signed configuration document carries.
extension AIS140 {
    public enum OTA {
        /// Longest command text accepted: one SMS (160 characters in the GSM 7-bit alphabet).
        public static let maximumLength = 160

        public enum Verb: String, Sendable, CaseIterable {
            case set = "SET"
            case get = "GET"
            case clear = "CLR"
        }

        /// The keys PanicBridge understands (the AIS-140 manuals' names).
        public enum Key: String, Sendable, CaseIterable {
            /// Primary server address / port.
            case primaryAddress = "PIP"
            case primaryPort = "PPT"
            /// Secondary server address / port.
            case secondaryAddress = "SIP"
            case secondaryPort = "SPT"
            /// The network APN.
            case apn = "APN"
            /// Speed limit (overspeed threshold), km/h.
            case speedLimit = "SL"
            /// Vehicle registration number.
            case vehicleNumber = "VN"
            /// Reporting rates: normal (seconds), emergency (seconds), health (minutes).
            case rate = "UR"
            case emergencyRate = "URE"
            case healthRate = "URH"
            /// Emergency duration, minutes.
            case emergencyDuration = "ED"
            /// Emergency off: clears the active emergency.
            case emergencyOff = "EO"

            /// Whether a `SET` gives it a value (every key but `EO`).
            public var takesValue: Bool { self != .emergencyOff }
        }

        /// One key of a command and, for `SET`, its value as sent.
        public struct Item: Sendable, Hashable {
            public var key: Key
            public var value: String?
            public init(key: Key, value: String? = nil) {
                self.key = key
                self.value = value
            }
        }

        /// A well-formed command.
        public struct Command: Sendable, Hashable {
            public var verb: Verb
            public var items: [Item]
            /// The PIN in front of the command (`PIN,SET …`), when one was given.
            public var pin: String?
            public init(verb: Verb, items: [Item], pin: String? = nil) {
                self.verb = verb
                self.items = items
                self.pin = pin
            }

            /// Whether it clears the emergency (`CLR EO` or `SET EO`).
            public var clearsEmergency: Bool { items.contains { $0.key == .emergencyOff } }
        }

        /// Where a command came from: the `[SRC]:[SRC_VAL]` of the Alert 12 frame's OTA field.
        public enum Source: Sendable, Hashable, CustomStringConvertible {
            /// A backend's kept session: the backend's name.
            case server(String)
            /// An SMS: the sender's number.
            case sms(String)

            /// `SRV` or `SMS`.
            public var code: String {
                switch self {
                case .server: "SRV"
                case .sms: "SMS"
                }
            }
            public var value: String {
                switch self {
                case .server(let name), .sms(let name): name
                }
            }
            public var description: String { "\(code):\(value)" }
        }

        /// Why a command text is not a command; the text is answered to the sender.
        public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
            public var description: String
            public init(_ description: String) { self.description = description }
        }

        /// Parses a command's text.
        public static func parse(_ text: String) -> Result<Command, ParseError> {
            guard text.utf8.count <= maximumLength else {
                return .failure(.init("command longer than \(maximumLength) characters"))
            }
            if let bad = text.unicodeScalars.first(where: {
                !($0.isASCII && ($0.value >= 0x20 || $0 == "\r" || $0 == "\n"))
            }) {
                return .failure(
                    .init("command contains the character U+\(String(bad.value, radix: 16, uppercase: true))"))
            }
            var body = Substring(text.trimmingASCIISpace)
            guard !body.isEmpty else { return .failure(.init("empty command")) }
            // `PIN,VERB …`: a comma before the first space, and the part before it is not a verb.
            var pin: String?
            if let comma = body.firstIndex(of: ","), !body[..<comma].contains(" "),
                Verb(rawValue: body[..<comma].uppercased()) == nil
            {
                pin = String(body[..<comma])
                body = body[body.index(after: comma)...]
                if pin?.isEmpty == true { return .failure(.init("empty PIN before ','")) }
            }
            let verbText = body.prefix { $0 != " " }
            guard let verb = Verb(rawValue: verbText.uppercased()) else {
                return .failure(.init("unknown verb '\(verbText)' (expected SET, GET or CLR)"))
            }
            let rest = body.dropFirst(verbText.count).drop { $0 == " " }
            guard !rest.isEmpty else { return .failure(.init("\(verb.rawValue) names no key")) }
            var items: [Item] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let part = part.trimmingASCIISpace
                guard !part.isEmpty else { return .failure(.init("empty key in '\(rest)'")) }
                let keyText: Substring
                let value: String?
                if let colon = part.firstIndex(of: ":") {
                    keyText = part[..<colon]
                    value = String(part[part.index(after: colon)...])
                } else {
                    keyText = part[...]
                    value = nil
                }
                guard let key = Key(rawValue: keyText.uppercased()) else {
                    return .failure(.init("unknown key '\(keyText)'"))
                }
                guard !items.contains(where: { $0.key == key }) else {
                    return .failure(.init("key \(key.rawValue) given twice"))
                }
                switch verb {
                case .set where key.takesValue:
                    guard let value, !value.isEmpty else {
                        return .failure(.init("SET \(key.rawValue) needs a value (\(key.rawValue):VALUE)"))
                    }
                    if let problem = check(key, value) { return .failure(.init("\(key.rawValue): \(problem)")) }
                case .set, .get, .clear:
                    guard value == nil else {
                        return .failure(.init("\(verb.rawValue) \(key.rawValue) takes no value"))
                    }
                }
                if verb == .clear, key != .emergencyOff {
                    return .failure(.init("CLR \(key.rawValue): only EO (emergency off) can be cleared"))
                }
                if verb == .get, key == .emergencyOff {
                    return .failure(.init("GET EO: EO (emergency off) can only be set or cleared"))
                }
                items.append(Item(key: key, value: value))
            }
            return .success(Command(verb: verb, items: items, pin: pin))
        }

        /// The value's syntax for `key`; nil when well formed.
        static func check(_ key: Key, _ value: String) -> String? {
            switch key {
            case .primaryAddress, .secondaryAddress:
                let allowed = value.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                        || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
                }
                guard allowed, value.utf8.count <= 253, !value.hasPrefix("."), !value.hasPrefix("-") else {
                    return "'\(value)' is not an IP address or host name"
                }
                return nil
            case .primaryPort, .secondaryPort:
                guard let port = Int(value), (1...65_535).contains(port) else {
                    return "'\(value)' is not a port (1-65535)"
                }
                return nil
            case .rate, .emergencyRate, .healthRate, .emergencyDuration, .speedLimit:
                guard value.utf8.count <= 6, let number = Int(value), number >= 1 else {
                    return "'\(value)' is not a whole number of at least 1"
                }
                return nil
            case .apn, .vehicleNumber:
                guard value.utf8.count <= 64, !value.contains(" ") else {
                    return "'\(value)' is not a single word of at most 64 characters"
                }
                return nil
            case .emergencyOff:
                return nil
            }
        }

        /// The Alert 12 frame's OTA field for one key: `[TYPE]:[SRC]:[SRC_VAL]|[CMD]:[VAL]`, e.g.
        /// `SET:SRV:state-erss|PIP:1.2.3.4` (`,` and `*`, the frame's separators, are dropped from the values).
        public static func alertInfo(verb: Verb, source: Source, key: Key, value: String?) -> String {
            func clean(_ text: String) -> String { text.filter { $0 != "," && $0 != "*" && $0 != "|" } }
            return "\(verb.rawValue):\(source.code):\(clean(source.value))|\(key.rawValue):\(clean(value ?? ""))"
        }
    }
}

extension StringProtocol where SubSequence == Substring {
    /// Without leading and trailing spaces, tabs and line ends.
    var trimmingASCIISpace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        let start = firstIndex { !isSpace($0) } ?? endIndex
        let end = lastIndex { !isSpace($0) }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}

extension AIS140.OTA {
    /// What the box says back to a command: the answer, and the Alert 12 frames owed (one per key set, read or
    /// cleared; none for a refused command).
    public struct Reply: Sendable, Hashable {
        /// `OK …` or `ERROR …`, as answered by SMS and in the session's `$OTA` line.
        public var answer: String
        /// The OTA field of each Alert 12 frame (``alertInfo(verb:source:key:value:)``).
        public var reports: [String]
        /// When the command was carried out (the frames' time).
        public var time: RecordTime

        public init(answer: String, reports: [String] = [], time: RecordTime) {
            self.answer = answer
            self.reports = reports
            self.time = time
        }

        /// A refusal: `ERROR <reason>`, no Alert 12.
        public static func refused(_ reason: String, time: RecordTime) -> Reply {
            Reply(answer: "ERROR " + reason, time: time)
        }

        /// Whether the command was carried out.
        public var isAccepted: Bool { answer.hasPrefix("OK") }
    }

    /// The answer as the box writes it on the kept session: `$OTA,<answer>*` and a line end (the answer's `*` and
    /// line ends dropped, at most ``maximumLength`` characters).
    public static func answerLine(_ answer: String) -> String {
        let clean = String(answer.filter { $0 != "*" && $0 != "\r" && $0 != "\n" }.prefix(maximumLength))
        return "$OTA,\(clean)*\r\n"
    }
}

extension AIS140 {
    /// The Alert 12 frame ("OTA parameter change", AIS-140's alert id 12) sent after each OTA command: the Traccar
    /// layout's tracking packet, packet type `OA`, alert id `12`, live, at `fix` (the box's last fix), with the
    /// OTA field `[TYPE]:[SRC]:[SRC_VAL]|[CMD]:[VAL]` after the frame number, before the checksum (tnavIC's "OTA
    /// Acknowledgement Packet" puts it after the odometer, a field this layout does not have).
    public static func otaPacket(
        info: String, time: RecordTime, fix: RecordFix?, identity: BoxIdentity, emergencyOpen: Bool = false
    ) -> String {
        let draft = RecordDraft(id: "", time: time, timeSource: .system, fix: fix, body: .position)
        let record = Record(device: "", sequence: 0, previousHash: nil, draft: draft)
        let tracking = Tracking(
            status: .otaAcknowledgement, alert: .otaParameter, emergency: emergencyOpen, mainPower: true,
            enclosureOpen: false)
        return checksummed(trackingFields(record, tracking, identity: identity, live: true) + [info])
    }
}

extension AIS140.OTA.Command {
    /// The command as the box keeps it (no PIN): `SET PIP:1.2.3.4,PPT:5001`.
    public var canonicalText: String {
        verb.rawValue + " "
            + items.map { item in item.value.map { "\(item.key.rawValue):\($0)" } ?? item.key.rawValue }
            .joined(separator: ",")
    }
}
