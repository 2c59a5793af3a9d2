import Foundation
import PanicCore
import Yams

/// The daemon's configuration file (`/etc/panicbridge/panicd.yaml`; documented in `docs/configuration.md`, example
/// in `config/panicd.example.yaml`).
public struct DaemonConfig: Sendable, Equatable {
    /// One control room the box reports to; each gets every record, with its own cursor.
    public struct Backend: Sendable, Equatable {
        public enum BacklogOrder: String, Sendable, CaseIterable {
            case oldestFirst = "oldest-first", newestFirst = "newest-first"
        }
        /// The protocol a backend speaks (`protocol:`).
        public enum WireProtocol: String, Sendable, CaseIterable {
            /// PanicBridge's signed batches to a control room (the default).
            case panicbridge
            /// AIS-140 over TCP/TLS to a state backend.
            case ais140
            /// Traccar's OsmAnd over HTTP(S).
            case osmand
        }
        public var name: String
        public var url: URL
        /// A PEM file of CA certificates to trust instead of the system store (pinning).
        public var caFile: String?
        /// The control room's Ed25519 public key (base64url of the 32 raw bytes) that signs its commands; only for
        /// `panicbridge` backends (required there).
        public var controlRoomKey: String?
        public var backlogOrder: BacklogOrder
        public var timeout: Duration
        public var batchSize: Int
        public var wire: WireProtocol = .panicbridge
        /// AIS-140 only: this backend gets only emergencies, as `EPB` packets.
        public var emergencyOnly = false
        /// AIS-140 only: how often the box sends a heartbeat on its kept session while nothing else is sent.
        public var heartbeat: Duration?
        /// `role:` as configured; nil for the protocol's default (see ``effectiveRole``).
        public var role: BackendRole?
        /// `send_help:` (ais140 and osmand only): whether help requests are sent there (in their own code, never as
        /// an emergency; docs/uplink.md). False settles them for this backend unsent.
        public var sendHelp = true
        /// `dialect:` (ais140 only): the frame layouts of the backend's family, Traccar's (the default) or C-DAC's
        /// (docs/uplink.md → *AIS-140 dialects*).
        public var dialect: AIS140.Dialect = .traccar
        /// AIS-140 OTA over the kept session (ais140 only; docs/uplink.md → *AIS-140 OTA commands*): `ota: true`
        /// lets this server `SET`/`GET` configuration keys; `ota_emergency_off: true` lets it clear an emergency
        /// (`CLR EO`); `ota_pin:` is the PIN it must put in front of each command, when given.
        public var ota = false
        public var otaEmergencyOff = false
        public var otaPIN: String?

        /// What the backend is to the box's alerts: as configured, else a `panicbridge` control room is the
        /// alerting authority and an `ais140` or `osmand` server a tracking one. Only an authority's
        /// acknowledgement makes the LED say SENT.
        public var effectiveRole: BackendRole {
            role ?? (wire == .panicbridge ? .authority : .tracking)
        }
    }

    /// The SMS fallback through a GSM modem (`sms:`).
    public struct SMS: Sendable, Equatable {
        /// The modem's AT port.
        public var port: String
        public var baud: Int
        /// Numbers that get emergency and help texts.
        public var numbers: [String]
        /// How long an alert waits for any data backend's acknowledgement before it is texted.
        public var after: Duration
        /// Numbers that get tamper texts (`tamper_numbers`); none: tamper alerts are not texted.
        public var tamperNumbers: [String]
        /// Numbers that asked for a format other than the AIS-140 §3.1.5 fields (`format: text`).
        public var formats: [String: SMSFormat]
        /// Numbers whose AIS-140 OTA commands (`SET`/`GET`) the box takes by SMS (`ota_numbers`), and the PIN
        /// they must put in front (`ota_pin`), when given (docs/uplink.md → *AIS-140 OTA commands*).
        public var otaNumbers: [String] = []
        public var otaPIN: String?

        public init(
            port: String, baud: Int = 115_200, numbers: [String], after: Duration = .seconds(120),
            tamperNumbers: [String] = [], formats: [String: SMSFormat] = [:]
        ) {
            self.port = port
            self.baud = baud
            self.numbers = numbers
            self.after = after
            self.tamperNumbers = tamperNumbers
            self.formats = formats
        }
    }

    /// How often records are made.
    public struct Rates: Sendable, Equatable {
        public var position: Duration = .seconds(60)
        public var emergencyPosition: Duration = .seconds(10)
        /// How long the faster emergency rate lasts after the emergency is cleared.
        public var emergencyTrackingAfter: Duration = .seconds(30 * 60)
        public var health: Duration = .seconds(300)
        /// How often the modem's radio and the board's supply are read for the records (and at every alert).
        public var telemetry: Duration = .seconds(60)
    }

    public var deviceID: String?
    public var boardFile: String
    public var keyFile: String
    public var outboxPath: String
    public var outboxMaxRecords: Int
    public var backends: [Backend]
    /// The box's identity for receivers other than PanicBridge's (`identity:`); required by `ais140` backends.
    public var identity: BoxIdentity?
    /// The SMS fallback, when configured.
    public var sms: SMS?
    public var rates: Rates
    /// Booth privacy: no position leaves the box except inside an alert.
    public var privacyMode: Bool
    public var logLevel: String
    /// Where the daemon serves its read-only status socket (`panicd status` reads it).
    public var statusSocket: String = DaemonConfig.defaultStatusSocket
    /// The fleet group the box belongs to (`group:`, local only): a configuration document addressed to this
    /// group applies to it.
    public var group: String?
    /// How long after applying a remote configuration the box waits for any backend to take a batch before it
    /// puts the previous configuration back by itself (`remote_config.revert_after`, local only).
    public var remoteConfigRevertAfter: Duration = DaemonConfig.defaultRemoteConfigRevertAfter

    public static let defaultOutboxMaxRecords = 50_000
    public static let defaultRemoteConfigRevertAfter = Duration.seconds(600)
    /// The status socket under systemd's `RuntimeDirectory=panicd`.
    public static let defaultStatusSocket = "/run/panicd/status.sock"

    /// Reads and checks a configuration file; relative paths in it are resolved against the file's directory.
    public static func load(path: String) -> (config: DaemonConfig?, problems: [BoardProblem]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return (nil, [.init(.syntax, key: "", "cannot read the configuration file \(path)")])
        }
        return parse(text, relativeTo: RelativePaths.directory(of: path))
    }

    static let topKeys: Set<String> = [
        "device_id", "board", "key", "outbox", "backends", "rates", "privacy_mode", "log_level", "status_socket",
        "identity", "sms", "group", "remote_config",
    ]
    static let remoteConfigKeys: Set<String> = ["revert_after"]
    static let smsKeys: Set<String> = ["port", "baud", "numbers", "tamper_numbers", "after", "ota_numbers", "ota_pin"]
    static let smsRecipientKeys: Set<String> = ["number", "format"]
    static let identityKeys: Set<String> = ["imei", "vehicle_registration", "vendor_id", "firmware_version"]
    static let outboxKeys: Set<String> = ["path", "max_records"]
    static let backendKeys: Set<String> = [
        "name", "url", "ca", "controlroom_key", "backlog_order", "timeout", "batch_size", "protocol", "emergency_only",
        "heartbeat", "role", "send_help", "dialect", "ota", "ota_emergency_off", "ota_pin",
    ]
    static let rateKeys: Set<String> = [
        "position", "emergency_position", "emergency_tracking_after", "health", "telemetry",
    ]
    static let logLevels: Set<String> = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Parses configuration YAML held in memory.
    public static func parse(
        _ text: String, relativeTo base: URL? = nil
    ) -> (config: DaemonConfig?, problems: [BoardProblem]) {
        var reader = YAMLReader()
        guard let root = reader.compose(text), let top = reader.mapping(root, at: "", known: topKeys) else {
            return (nil, reader.problems)
        }
        func resolve(_ path: String?) -> String? { RelativePaths.resolve(path, against: base) }
        let deviceID = reader.string(top["device_id"], at: "device_id", required: false)
        let board = resolve(reader.string(top["board"], at: "board"))
        let key = resolve(reader.string(top["key"], at: "key"))
        var outboxPath: String?
        var maxRecords = defaultOutboxMaxRecords
        if let node = top["outbox"], let outbox = reader.mapping(node, at: "outbox", known: outboxKeys) {
            outboxPath = resolve(reader.string(outbox["path"], at: "outbox.path"))
            if let value = reader.integer(outbox["max_records"], at: "outbox.max_records") {
                if value < 40_000 {
                    reader.report(
                        .invalidValue, "outbox.max_records",
                        "\(value) is below AIS-140's minimum of 40000 stored positions", at: outbox["max_records"])
                }
                maxRecords = value
            }
        } else if top["outbox"] == nil {
            reader.report(.missingKey, "outbox", "missing required key: give outbox.path", at: root)
        }

        let identity = top["identity"].flatMap { parseIdentity($0, reader: &reader) }
        let sms = top["sms"].flatMap { parseSMS($0, reader: &reader, resolve: resolve) }
        var backends: [Backend] = []
        if let node = top["backends"], let list = reader.sequence(node, at: "backends") {
            for (index, item) in list.enumerated() {
                let key = "backends[\(index)]"
                guard let map = reader.mapping(item, at: key, known: backendKeys) else { continue }
                let name = reader.string(map["name"], at: "\(key).name")
                let wire =
                    reader.choice(
                        map["protocol"], at: "\(key).protocol", as: Backend.WireProtocol.self, required: false)
                    ?? .panicbridge
                let urlText = reader.string(map["url"], at: "\(key).url")
                let url = urlText.flatMap(URL.init(string:))
                let schemes = wire == .ais140 ? ["tcp", "tls"] : ["http", "https"]
                if let urlText,
                    url?.scheme.map({ schemes.contains($0) }) != true || url?.host == nil
                        || (wire == .ais140 && url?.port == nil)
                {
                    let wanted = wire == .ais140 ? "a tcp://host:port or tls://host:port URL" : "an http(s) URL"
                    reader.report(
                        .invalidValue, "\(key).url", "'\(urlText)' is not \(wanted) (protocol \(wire.rawValue))",
                        at: map["url"])
                }
                let ca = resolve(reader.string(map["ca"], at: "\(key).ca", required: false))
                let crKey = reader.string(
                    map["controlroom_key"], at: "\(key).controlroom_key", required: wire == .panicbridge)
                if wire != .panicbridge, map["controlroom_key"] != nil {
                    reader.report(
                        .invalidValue, "\(key).controlroom_key",
                        "only a panicbridge backend sends signed commands; a \(wire.rawValue) backend has no key",
                        at: map["controlroom_key"])
                }
                var emergencyOnly = false
                if let node = map["emergency_only"] {
                    if let value = node.bool {
                        emergencyOnly = value
                    } else {
                        reader.report(.wrongType, "\(key).emergency_only", "expected true or false", at: node)
                    }
                    if wire != .ais140 {
                        reader.report(
                            .invalidValue, "\(key).emergency_only", "only an ais140 backend can be emergency-only",
                            at: node)
                    }
                }
                var sendHelp = true
                if let node = map["send_help"] {
                    if let value = node.bool {
                        sendHelp = value
                    } else {
                        reader.report(.wrongType, "\(key).send_help", "expected true or false", at: node)
                    }
                    if wire == .panicbridge {
                        reader.report(
                            .invalidValue, "\(key).send_help",
                            "a panicbridge control room gets every help request; send_help is for ais140 and osmand",
                            at: node)
                    }
                }
                let dialect = reader.choice(
                    map["dialect"], at: "\(key).dialect", as: AIS140.Dialect.self, required: false)
                if map["dialect"] != nil, wire != .ais140 {
                    reader.report(
                        .invalidValue, "\(key).dialect", "only an ais140 backend has a dialect (traccar or cdac)",
                        at: map["dialect"])
                }
                let ota = otaFlags(map, at: key, wire: wire, reader: &reader)
                let role = reader.choice(map["role"], at: "\(key).role", as: BackendRole.self, required: false)
                if role == .authority, wire == .osmand {
                    reader.report(
                        .invalidValue, "\(key).role",
                        "an osmand (Traccar) server cannot be the alerting authority: its 200 says a position was "
                            + "stored, not that the police have the alert; use a panicbridge or ais140 backend",
                        at: map["role"])
                }
                let heartbeat = duration(map["heartbeat"], at: "\(key).heartbeat", reader: &reader)
                if map["heartbeat"] != nil, wire != .ais140 {
                    reader.report(
                        .invalidValue, "\(key).heartbeat", "only an ais140 backend sends heartbeats",
                        at: map["heartbeat"])
                }
                if wire == .ais140, identity == nil {
                    reader.report(
                        .missingKey, "identity.imei",
                        "\(key) speaks ais140, which logs in with the IMEI: give identity.imei", at: map["protocol"])
                }
                if let crKey, Data(base64URL: crKey)?.count != 32 {
                    reader.report(
                        .invalidValue, "\(key).controlroom_key",
                        "not a base64url Ed25519 public key (32 bytes); copy it from `controlroom identity`",
                        at: map["controlroom_key"])
                }
                let order = reader.choice(
                    map["backlog_order"], at: "\(key).backlog_order", as: Backend.BacklogOrder.self, required: false)
                let timeout = duration(map["timeout"], at: "\(key).timeout", reader: &reader) ?? .seconds(10)
                let batch = reader.integer(map["batch_size"], at: "\(key).batch_size") ?? 100
                if !(1...1000).contains(batch) {
                    reader.report(
                        .invalidValue, "\(key).batch_size", "\(batch) is outside 1…1000", at: map["batch_size"])
                }
                if let name, backends.contains(where: { $0.name == name }) {
                    reader.report(
                        .duplicateName, "\(key).name", "backend name '\(name)' is used twice", at: map["name"])
                }
                if let name, let url, crKey != nil || wire != .panicbridge {
                    var backend = Backend(
                        name: name, url: url, caFile: ca, controlRoomKey: crKey,
                        backlogOrder: order ?? .oldestFirst,
                        timeout: timeout, batchSize: batch, wire: wire, emergencyOnly: emergencyOnly,
                        heartbeat: heartbeat, role: role)
                    backend.sendHelp = sendHelp
                    backend.dialect = dialect ?? .traccar
                    (backend.ota, backend.otaEmergencyOff, backend.otaPIN) = ota
                    backends.append(backend)
                }
            }
        }

        var rates = Rates()
        if let node = top["rates"], let map = reader.mapping(node, at: "rates", known: rateKeys) {
            rates.position = duration(map["position"], at: "rates.position", reader: &reader) ?? rates.position
            rates.emergencyPosition =
                duration(map["emergency_position"], at: "rates.emergency_position", reader: &reader)
                ?? rates.emergencyPosition
            rates.emergencyTrackingAfter =
                duration(map["emergency_tracking_after"], at: "rates.emergency_tracking_after", reader: &reader)
                ?? rates.emergencyTrackingAfter
            rates.health = duration(map["health"], at: "rates.health", reader: &reader) ?? rates.health
            rates.telemetry = duration(map["telemetry"], at: "rates.telemetry", reader: &reader) ?? rates.telemetry
            if rates.telemetry < .seconds(10) {
                reader.report(
                    .impossibleTiming, "rates.telemetry",
                    "rates.telemetry must be at least 10s: each reading holds the modem's port (SMS waits for it)",
                    at: map["telemetry"])
            }
            if rates.emergencyPosition > rates.position {
                reader.report(
                    .impossibleTiming, "rates.emergency_position",
                    "the emergency rate must not be slower than the normal position rate", at: map["emergency_position"]
                )
            }
        }
        var privacy = false
        if let node = top["privacy_mode"] {
            if let value = node.bool {
                privacy = value
            } else {
                reader.report(.wrongType, "privacy_mode", "expected true or false", at: node)
            }
        }
        let logLevel = reader.string(top["log_level"], at: "log_level", required: false) ?? "info"
        if !logLevels.contains(logLevel) {
            reader.report(
                .invalidValue, "log_level", "'\(logLevel)' is not one of \(logLevels.sorted().joined(separator: ", "))",
                at: top["log_level"])
        }
        let statusSocket =
            resolve(reader.string(top["status_socket"], at: "status_socket", required: false)) ?? defaultStatusSocket
        // sockaddr_un holds 108 bytes with the terminating NUL.
        if statusSocket.utf8.count > 107 {
            reader.report(
                .invalidValue, "status_socket", "'\(statusSocket)' is longer than a socket path may be (107 bytes)",
                at: top["status_socket"])
        }
        let group = reader.string(top["group"], at: "group", required: false)
        if let group, !BoxIdentity.isFieldSafe(group) {
            reader.report(.invalidValue, "group", "'\(group)' must be 1 to 32 of A-Z a-z 0-9 . _ -", at: top["group"])
        }
        // Unset, it is 10 minutes or two health intervals, whichever is longer: a box whose health record is due
        // only every 15 minutes must not revert a good configuration before its first health record could arrive.
        var revertAfter = max(defaultRemoteConfigRevertAfter, rates.health * 2)
        var revertAfterSet = false
        if let node = top["remote_config"], let map = reader.mapping(node, at: "remote_config", known: remoteConfigKeys)
        {
            if let set = duration(map["revert_after"], at: "remote_config.revert_after", reader: &reader) {
                revertAfter = set
                revertAfterSet = true
            }
        }
        if revertAfterSet, revertAfter <= rates.health {
            reader.report(
                .impossibleTiming, "remote_config.revert_after",
                "remote_config.revert_after must be longer than rates.health: a box with nothing else to send proves "
                    + "a new configuration delivers with its health record", at: top["remote_config"] ?? top["rates"])
        }
        guard let board, let key, let outboxPath, reader.problems.isEmpty else { return (nil, reader.problems) }
        var config = DaemonConfig(
            deviceID: deviceID, boardFile: board, keyFile: key, outboxPath: outboxPath, outboxMaxRecords: maxRecords,
            backends: backends, rates: rates, privacyMode: privacy, logLevel: logLevel)
        config.statusSocket = statusSocket
        config.group = group
        config.remoteConfigRevertAfter = revertAfter
        config.identity = identity
        config.sms = sms
        return (config, [])
    }

    /// The backends whose acknowledgement of an alert counts as "the police have it" (the LED's SENT, and the SMS
    /// fallback's wait). A configuration without one never shows SENT; `panicd config check` warns about it.
    public var authorityBackends: [String] { backends.filter { $0.effectiveRole == .authority }.map(\.name) }

    /// Reads `sms:`: the modem's port and speed, who gets alert and tamper texts in which format, how long an alert
    /// waits before it is texted.
    static func parseSMS(_ node: Node, reader: inout YAMLReader, resolve: (String?) -> String?) -> SMS? {
        guard let map = reader.mapping(node, at: "sms", known: smsKeys) else { return nil }
        let port = resolve(reader.string(map["port"], at: "sms.port"))
        let baud = reader.integer(map["baud"], at: "sms.baud") ?? 115_200
        let after = duration(map["after"], at: "sms.after", reader: &reader) ?? .seconds(120)
        var formats: [String: (format: SMSFormat, key: String)] = [:]
        let numbers = parseRecipients(map["numbers"], at: "sms.numbers", formats: &formats, reader: &reader)
        let tamper = parseRecipients(
            map["tamper_numbers"], at: "sms.tamper_numbers", formats: &formats, reader: &reader)
        if numbers.isEmpty {
            reader.report(.missingKey, "sms.numbers", "give at least one number to text", at: map["numbers"] ?? node)
        }
        var otaFormats: [String: (format: SMSFormat, key: String)] = [:]
        let otaNumbers = parseRecipients(
            map["ota_numbers"], at: "sms.ota_numbers", formats: &otaFormats, reader: &reader)
        let otaPIN = reader.string(map["ota_pin"], at: "sms.ota_pin", required: false)
        if let otaPIN, let problem = otaPINProblem(otaPIN) {
            reader.report(.invalidValue, "sms.ota_pin", problem, at: map["ota_pin"])
        }
        guard let port else { return nil }
        var sms = SMS(
            port: port, baud: baud, numbers: numbers, after: after, tamperNumbers: tamper,
            formats: formats.filter { $0.value.format != .fields }.mapValues(\.format))
        sms.otaNumbers = otaNumbers
        sms.otaPIN = otaPIN
        return sms
    }

    /// Reads a list of recipients: each a number (`"+919812345678"`: the §3.1.5 fields) or a mapping with `number`
    /// and `format` (`fields` or `text`). A number listed twice in one list, or with two formats, is a problem.
    static func parseRecipients(
        _ node: Node?, at key: String, formats: inout [String: (format: SMSFormat, key: String)],
        reader: inout YAMLReader
    ) -> [String] {
        guard let node, let list = reader.sequence(node, at: key) else { return [] }
        var numbers: [String] = []
        for (index, item) in list.enumerated() {
            let path = "\(key)[\(index)]"
            var format = SMSFormat.fields
            let number: String?
            if case .mapping = item {
                guard let entry = reader.mapping(item, at: path, known: smsRecipientKeys) else { continue }
                number = reader.string(entry["number"], at: "\(path).number")
                if let node = entry["format"] {
                    guard let chosen = reader.choice(node, at: "\(path).format", as: SMSFormat.self) else { continue }
                    format = chosen
                }
            } else {
                number = reader.string(item, at: path)
            }
            guard let number else { continue }
            if !SMSDialogue.isValidNumber(number) {
                reader.report(
                    .invalidValue, path, "'\(number)' is not a phone number: an optional + and 3 to 15 digits", at: item
                )
                continue
            }
            if numbers.contains(number) {
                reader.report(.invalidValue, path, "'\(number)' is listed twice", at: item)
                continue
            }
            if let earlier = formats[number], earlier.format != format {
                reader.report(
                    .invalidValue, path,
                    "'\(number)' has format \(format.rawValue) here and \(earlier.format.rawValue) at \(earlier.key): "
                        + "one number gets one format", at: item)
                continue
            }
            formats[number] = (format, path)
            numbers.append(number)
        }
        return numbers
    }

    /// A backend's `ota`, `ota_emergency_off` and `ota_pin` (ais140 only).
    static func otaFlags(
        _ map: [String: Node], at key: String, wire: Backend.WireProtocol, reader: inout YAMLReader
    ) -> (Bool, Bool, String?) {
        var flags = [false, false]
        for (index, name) in ["ota", "ota_emergency_off"].enumerated() {
            guard let node = map[name] else { continue }
            if let value = node.bool {
                flags[index] = value
            } else {
                reader.report(.wrongType, "\(key).\(name)", "expected true or false", at: node)
            }
        }
        let pin = reader.string(map["ota_pin"], at: "\(key).ota_pin", required: false)
        if let pin, let problem = otaPINProblem(pin) {
            reader.report(.invalidValue, "\(key).ota_pin", problem, at: map["ota_pin"])
        }
        for name in ["ota", "ota_emergency_off", "ota_pin"] where map[name] != nil && wire != .ais140 {
            reader.report(
                .invalidValue, "\(key).\(name)", "only an ais140 backend sends AIS-140 OTA commands", at: map[name])
        }
        return (flags[0], flags[1], pin)
    }

    /// What is wrong with an OTA PIN (4 to 16 letters and digits: it is typed into an SMS before a comma).
    static func otaPINProblem(_ pin: String) -> String? {
        (4...16).contains(pin.count) && pin.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            ? nil : "an OTA PIN is 4 to 16 letters and digits"
    }

    /// Reads `identity:`: the IMEI (15 digits, Luhn-checked), vehicle registration, vendor id, firmware version.
    static func parseIdentity(_ node: Node, reader: inout YAMLReader) -> BoxIdentity? {
        guard let map = reader.mapping(node, at: "identity", known: identityKeys) else { return nil }
        let imei = reader.string(map["imei"], at: "identity.imei")
        if let imei {
            if imei.utf8.count != 15 || !imei.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                reader.report(.invalidValue, "identity.imei", "'\(imei)' is not 15 digits", at: map["imei"])
            } else if !BoxIdentity.isValidIMEI(imei) {
                reader.report(
                    .invalidValue, "identity.imei",
                    "'\(imei)' fails the Luhn check: its last digit should be \(luhnDigit(imei.prefix(14)))",
                    at: map["imei"])
            }
        }
        func field(_ name: String) -> String? {
            guard let value = reader.string(map[name], at: "identity.\(name)", required: false) else { return nil }
            if !BoxIdentity.isFieldSafe(value) {
                reader.report(
                    .invalidValue, "identity.\(name)",
                    "'\(value)' must be 1 to 32 of A-Z a-z 0-9 . _ - (it travels in comma-separated AIS-140 fields)",
                    at: map[name])
            }
            return value
        }
        let registration = field("vehicle_registration")
        let vendor = field("vendor_id") ?? BoxIdentity.defaultVendorID
        let firmware = field("firmware_version") ?? PanicBridgeVersion.current
        guard let imei else { return nil }
        return BoxIdentity(imei: imei, vehicleRegistration: registration, vendorID: vendor, firmwareVersion: firmware)
    }

    /// The Luhn check digit for `digits`.
    static func luhnDigit(_ digits: Substring) -> Int {
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            let digit = Int(character.asciiValue ?? 48) - 48
            let doubled = index % 2 == 0 ? digit * 2 : digit
            sum += doubled > 9 ? doubled - 9 : doubled
        }
        return (10 - sum % 10) % 10
    }

    /// Durations are written with a unit: `500ms`, `10s`, `30m`, `2h`.
    static func duration(_ node: Node?, at key: String, reader: inout YAMLReader) -> Duration? {
        guard let text = reader.string(node, at: key, required: false) else { return nil }
        if let value = parseDuration(text), value > .zero { return value }
        reader.report(.invalidValue, key, "'\(text)' is not a positive duration like 500ms, 10s, 30m or 2h", at: node)
        return nil
    }

    /// Parses `500ms`, `10s`, `30m`, `2h`.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Duration)] = [
            ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600)),
        ]
        for (suffix, unit) in units where text.hasSuffix(suffix) {
            guard let number = Int(text.dropLast(suffix.count)) else { return nil }
            return unit * number
        }
        return nil
    }
}

extension Data {
    /// Decodes base64url without padding (RFC 4648 §5).
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
