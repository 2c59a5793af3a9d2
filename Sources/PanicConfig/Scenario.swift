import Foundation
import PanicCore
import Yams

/// A simulator scenario (`sim/scenarios/*.yaml`): a timeline of things that happen to a simulated box, and the
/// expectations that must hold. Data, not Swift: the format is documented in `sim/scenarios/README.md`.
public struct Scenario: Sendable, Equatable {
    /// One timeline entry.
    public struct Step: Sendable, Equatable {
        public var at: Duration
        public var action: BoxAction

        public init(at: Duration, action: BoxAction) {
            self.at = at
            self.action = action
        }
    }

    /// A milestone an expectation can measure from or to.
    public enum Milestone: String, Sendable, Equatable, CaseIterable {
        /// A person pressed an emergency or help button.
        case press
        /// The scenario cut a button loop's wire.
        case cut
        case stored
        case delivered
        case accepted
        case cleared
        case networkUp = "network-up"
        case networkDown = "network-down"
        case powerRestored = "power-restored"
        case wireCutReported = "wire-cut-reported"
        case tamperReported = "tamper-reported"
    }

    /// Something that must be true when the scenario ends.
    public enum Expectation: Sendable, Equatable {
        /// Every occurrence of `after` is followed by `milestone` within `within`.
        case within(milestone: Milestone, within: Duration, after: Milestone)
        /// The LED shows `state` at the end of the run.
        case finalIndicator(String)
        /// Exact counts at the end: records lost, duplicates stored at the control room.
        case lost(Int)
        case duplicates(Int)
        /// At least this many records of a kind reached the control room.
        case delivered(kind: RecordKind, atLeast: Int)
        /// Every alert the presses raised (emergency, help) reached the operator, by record id; there was at least
        /// one press.
        case alertsReachOperator
        /// `ais140_logins: per_session`: every AIS-140 reference receiver saw one login per connection, and no
        /// more connections than 1 + the network outages and power cuts of the run (each may break the session;
        /// nothing else may).
        case ais140LoginsPerSession
    }

    public enum ClockMode: String, Sendable, Equatable, CaseIterable {
        case virtual
        case realtime
    }

    /// A receiver the simulated box sends to besides the embedded control room (`backends:`, the daemon
    /// configuration's keys): with no `url`, the simulator runs a reference receiver for it.
    public struct Backend: Sendable, Equatable {
        public var name: String
        public var wire: DaemonConfig.Backend.WireProtocol
        /// An external receiver; nil for the simulator's own reference receiver.
        public var url: URL?
        public var emergencyOnly: Bool
        /// `dialect:` of an ais140 backend (the daemon configuration's key).
        public var dialect: AIS140.Dialect = .traccar

        public init(name: String, wire: DaemonConfig.Backend.WireProtocol, url: URL? = nil, emergencyOnly: Bool = false)
        {
            self.name = name
            self.wire = wire
            self.url = url
            self.emergencyOnly = emergencyOnly
        }
    }

    public var name: String
    public var board: String
    public var route: String
    public var clock: ClockMode
    public var start: Date
    public var duration: Duration
    public var operatorAcceptAfter: Duration?
    public var operatorClearAfter: Duration?
    public var steps: [Step]
    public var expectations: [Expectation]
    /// Receivers besides the embedded control room.
    public var backends: [Backend] = []
    /// The box's identity for them (`identity:`, as in the daemon configuration).
    public var identity: BoxIdentity?
    /// The SMS fallback through a simulated GSM modem on a pseudo-terminal (`sms:` with `numbers` and `after`);
    /// the modem's network stays up when the data link (`network:`) goes down.
    public var sms: SMS?

    /// The scenario's SMS fallback.
    public struct SMS: Sendable, Equatable {
        public var numbers: [String]
        public var after: Duration
    }

    static let topKeys: Set<String> = [
        "name", "board", "route", "clock", "start", "duration", "operator", "timeline", "expect", "backends",
        "identity", "sms",
    ]
    static let backendKeys: Set<String> = ["name", "protocol", "url", "emergency_only", "dialect"]
    static let stepActions: Set<String> = [
        "press", "bounce", "cut", "restore", "stuck", "enclosure", "main_power", "power_cut", "gnss", "network",
        "server_errors", "operator", "ignition",
    ]
    static let stepKeys: Set<String> = stepActions.union([
        "at", "hold", "edges", "span", "restore_after", "status", "count",
    ])
    static let expectKeys: Set<String> = [
        "milestone", "within", "after", "indicator", "lost", "duplicates", "delivered", "at_least",
        "alerts_reach_operator", "ais140_logins",
    ]

    /// Reads a scenario file; `board` and `route` are resolved against the file's directory.
    public static func load(path: String) -> (scenario: Scenario?, problems: [BoardProblem]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return (nil, [.init(.syntax, key: "", "cannot read the scenario file \(path)")])
        }
        return parse(text, relativeTo: RelativePaths.directory(of: path))
    }

    /// Parses scenario YAML.
    public static func parse(
        _ text: String, relativeTo base: URL? = nil
    ) -> (scenario: Scenario?, problems: [BoardProblem]) {
        var reader = YAMLReader()
        guard let root = reader.compose(text), let top = reader.mapping(root, at: "", known: topKeys) else {
            return (nil, reader.problems)
        }
        func resolve(_ path: String?) -> String? { RelativePaths.resolve(path, against: base) }
        let name = reader.string(top["name"], at: "name")
        let board = resolve(reader.string(top["board"], at: "board"))
        let route = resolve(reader.string(top["route"], at: "route"))
        let clock = reader.choice(top["clock"], at: "clock", as: ClockMode.self, required: false) ?? .virtual
        var start = Date(timeIntervalSince1970: 1_795_422_600)  // 2026-11-20T08:30:00Z
        if let text = reader.string(top["start"], at: "start", required: false) {
            if let date = ISO8601DateFormatter().date(from: text) {
                start = date
            } else {
                reader.report(
                    .invalidValue, "start", "'\(text)' is not an RFC 3339 UTC time like 2026-11-23T08:30:00Z",
                    at: top["start"])
            }
        }
        let duration = offset(top["duration"], at: "duration", reader: &reader)
        if top["duration"] == nil { reader.report(.missingKey, "duration", "missing required key", at: root) }

        var acceptAfter: Duration?
        var clearAfter: Duration?
        if let node = top["operator"],
            let map = reader.mapping(node, at: "operator", known: ["accept_after", "clear_after"])
        {
            acceptAfter = offset(map["accept_after"], at: "operator.accept_after", reader: &reader)
            clearAfter = offset(map["clear_after"], at: "operator.clear_after", reader: &reader)
        }

        var steps: [Step] = []
        if let node = top["timeline"], let list = reader.sequence(node, at: "timeline") {
            for (index, item) in list.enumerated() {
                if let step = readStep(item, at: "timeline[\(index)]", reader: &reader) {
                    if let last = steps.last, step.at < last.at {
                        reader.report(
                            .invalidValue, "timeline[\(index)].at", "the timeline must be in time order", at: item)
                    }
                    steps.append(step)
                }
            }
        }
        var expectations: [Expectation] = []
        if let node = top["expect"], let list = reader.sequence(node, at: "expect") {
            for (index, item) in list.enumerated() {
                if let expectation = readExpectation(item, at: "expect[\(index)]", reader: &reader) {
                    expectations.append(expectation)
                }
            }
        }
        let identity = top["identity"].flatMap { DaemonConfig.parseIdentity($0, reader: &reader) }
        var backends: [Backend] = []
        if let node = top["backends"], let list = reader.sequence(node, at: "backends") {
            for (index, item) in list.enumerated() {
                let key = "backends[\(index)]"
                guard let map = reader.mapping(item, at: key, known: backendKeys) else { continue }
                let backendName = reader.string(map["name"], at: "\(key).name")
                let wire = reader.choice(
                    map["protocol"], at: "\(key).protocol", as: DaemonConfig.Backend.WireProtocol.self)
                if wire == .panicbridge {
                    reader.report(
                        .invalidValue, "\(key).protocol",
                        "the simulator's PanicBridge control room is built in; list only ais140 and osmand backends",
                        at: map["protocol"])
                }
                if wire == .ais140, identity == nil {
                    reader.report(
                        .missingKey, "identity.imei",
                        "\(key) speaks ais140, which logs in with the IMEI: give identity.imei",
                        at: map["protocol"])
                }
                let url = reader.string(map["url"], at: "\(key).url", required: false).flatMap(URL.init(string:))
                let emergencyOnly = map["emergency_only"]?.bool ?? false
                let dialect = reader.choice(
                    map["dialect"], at: "\(key).dialect", as: AIS140.Dialect.self, required: false)
                if map["dialect"] != nil, wire != .ais140 {
                    reader.report(
                        .invalidValue, "\(key).dialect", "only an ais140 backend has a dialect (traccar or cdac)",
                        at: map["dialect"])
                }
                if let backendName, let wire, wire != .panicbridge {
                    if backends.contains(where: { $0.name == backendName }) || backendName == "control-room" {
                        reader.report(
                            .duplicateName, "\(key).name", "backend name '\(backendName)' is taken", at: map["name"])
                    }
                    var backend = Backend(name: backendName, wire: wire, url: url, emergencyOnly: emergencyOnly)
                    backend.dialect = dialect ?? .traccar
                    backends.append(backend)
                }
            }
        }
        var sms: SMS?
        if let node = top["sms"], let map = reader.mapping(node, at: "sms", known: ["numbers", "after"]) {
            var numbers: [String] = []
            for (index, item) in (map["numbers"].flatMap { reader.sequence($0, at: "sms.numbers") } ?? []).enumerated()
            {
                guard let number = reader.string(item, at: "sms.numbers[\(index)]") else { continue }
                if !SMSDialogue.isValidNumber(number) {
                    reader.report(.invalidValue, "sms.numbers[\(index)]", "'\(number)' is not a phone number", at: item)
                }
                numbers.append(number)
            }
            if numbers.isEmpty { reader.report(.missingKey, "sms.numbers", "give at least one number", at: node) }
            sms = SMS(numbers: numbers, after: offset(map["after"], at: "sms.after", reader: &reader) ?? .seconds(120))
        }
        guard let name, let board, let route, let duration, reader.problems.isEmpty else {
            return (nil, reader.problems)
        }
        if let last = steps.last, last.at > duration {
            return (nil, [.init(.invalidValue, key: "duration", "the timeline runs past the scenario's duration")])
        }
        var scenario = Scenario(
            name: name, board: board, route: route, clock: clock, start: start, duration: duration,
            operatorAcceptAfter: acceptAfter, operatorClearAfter: clearAfter, steps: steps, expectations: expectations)
        scenario.backends = backends
        scenario.identity = identity
        scenario.sms = sms
        return (scenario, [])
    }

    private static func readStep(_ node: Node, at key: String, reader: inout YAMLReader) -> Step? {
        guard let map = reader.mapping(node, at: key, known: stepKeys) else { return nil }
        let actions = map.keys.filter(stepActions.contains)
        guard actions.count == 1, let verb = actions.first else {
            reader.report(
                .invalidValue, key,
                "a step needs exactly one action (\(stepActions.sorted().joined(separator: ", "))), found \(actions.sorted())",
                at: node)
            return nil
        }
        guard let at = offset(map["at"], at: "\(key).at", reader: &reader) else {
            if map["at"] == nil { reader.report(.missingKey, "\(key).at", "missing required key", at: node) }
            return nil
        }
        let value = map[verb]
        let path = "\(key).\(verb)"
        let hold = offset(map["hold"], at: "\(key).hold", reader: &reader) ?? .milliseconds(600)
        let action: BoxAction?
        switch verb {
        case "press": action = reader.string(value, at: path).map { .press(input: $0, hold: hold) }
        case "bounce":
            let edges = reader.integer(map["edges"], at: "\(key).edges") ?? 40
            let span = offset(map["span"], at: "\(key).span", reader: &reader) ?? .milliseconds(15)
            action = reader.string(value, at: path).map { .bounce(input: $0, edges: edges, span: span, hold: hold) }
        case "cut": action = reader.string(value, at: path).map { .cutWire(input: $0) }
        case "restore": action = reader.string(value, at: path).map { .restore(input: $0) }
        case "stuck": action = reader.string(value, at: path).map { .stuck(input: $0) }
        case "enclosure":
            action = upDown(value, at: path, yes: "open", no: "closed", reader: &reader).map { .enclosure(open: $0) }
        case "main_power":
            action = upDown(value, at: path, yes: "on", no: "off", reader: &reader).map { .mainPower(on: $0) }
        case "ignition":
            action = upDown(value, at: path, yes: "on", no: "off", reader: &reader).map { .ignition(on: $0) }
        case "power_cut":
            let after = offset(map["restore_after"], at: "\(key).restore_after", reader: &reader) ?? .seconds(5)
            action = .powerCut(restoreAfter: after)
        case "gnss":
            action = upDown(value, at: path, yes: "restored", no: "lost", reader: &reader).map { .gnss(available: $0) }
        case "network":
            action = upDown(value, at: path, yes: "up", no: "down", reader: &reader).map { .network(up: $0) }
        case "server_errors":
            let status = reader.integer(value, at: path) ?? 500
            let count = reader.integer(map["count"], at: "\(key).count") ?? 1
            action = .serverErrors(status: status, count: count)
        case "operator":
            action = reader.choice(value, at: path, as: BoxAction.OperatorAction.self).map { .operatorAction($0) }
        default: action = nil
        }
        return action.map { Step(at: at, action: $0) }
    }

    private static func upDown(
        _ node: Node?, at key: String, yes: String, no: String, reader: inout YAMLReader
    ) -> Bool? {
        switch reader.string(node, at: key) {
        case yes: return true
        case no: return false
        case let other?:
            reader.report(.invalidValue, key, "'\(other)' is neither '\(yes)' nor '\(no)'", at: node)
            return nil
        case nil: return nil
        }
    }

    private static func readExpectation(_ node: Node, at key: String, reader: inout YAMLReader) -> Expectation? {
        guard let map = reader.mapping(node, at: key, known: expectKeys) else { return nil }
        if let milestone = map["milestone"] {
            let what = reader.choice(milestone, at: "\(key).milestone", as: Milestone.self)
            let after = reader.choice(map["after"], at: "\(key).after", as: Milestone.self)
            let within = offset(map["within"], at: "\(key).within", reader: &reader)
            if map["within"] == nil { reader.report(.missingKey, "\(key).within", "missing required key", at: node) }
            guard let what, let after, let within else { return nil }
            return .within(milestone: what, within: within, after: after)
        }
        if let indicator = map["indicator"] {
            return reader.string(indicator, at: "\(key).indicator").map { .finalIndicator($0) }
        }
        if let lost = map["lost"] { return reader.integer(lost, at: "\(key).lost").map { .lost($0) } }
        if let duplicates = map["duplicates"] {
            return reader.integer(duplicates, at: "\(key).duplicates").map { .duplicates($0) }
        }
        if let delivered = map["delivered"] {
            let kind = reader.choice(delivered, at: "\(key).delivered", as: RecordKind.self)
            let count = reader.integer(map["at_least"], at: "\(key).at_least") ?? 1
            return kind.map { .delivered(kind: $0, atLeast: count) }
        }
        if let reach = map["alerts_reach_operator"] {
            guard reader.string(reach, at: "\(key).alerts_reach_operator") == "true" else {
                reader.report(.invalidValue, "\(key).alerts_reach_operator", "only 'true' can be expected", at: reach)
                return nil
            }
            return .alertsReachOperator
        }
        if let logins = map["ais140_logins"] {
            guard reader.string(logins, at: "\(key).ais140_logins") == "per_session" else {
                reader.report(
                    .invalidValue, "\(key).ais140_logins", "only 'per_session' can be expected", at: logins)
                return nil
            }
            return .ais140LoginsPerSession
        }
        reader.report(
            .invalidValue, key,
            "an expectation needs milestone, indicator, lost, duplicates, delivered, alerts_reach_operator or "
                + "ais140_logins",
            at: node)
        return nil
    }

    /// A timeline offset: `90s`, `2m30s`, `1h5m`, `750ms`.
    static func offset(_ node: Node?, at key: String, reader: inout YAMLReader) -> Duration? {
        guard let text = reader.string(node, at: key, required: false) else { return nil }
        if let value = parseOffset(text) { return value }
        reader.report(.invalidValue, key, "'\(text)' is not a time like 750ms, 90s, 2m30s or 1h5m", at: node)
        return nil
    }

    /// Parses compound durations such as `2m30s`, `1h5m`, `750ms`, `0s`.
    public static func parseOffset(_ text: String) -> Duration? {
        var total = Duration.zero
        var number = ""
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while let character = rest.first {
            if character.isNumber {
                number.append(character)
                rest = rest.dropFirst()
                continue
            }
            guard let value = Int(number) else { return nil }
            number = ""
            if rest.hasPrefix("ms") {
                total += .milliseconds(value)
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix("h") {
                total += .seconds(value * 3600)
                rest = rest.dropFirst()
            } else if rest.hasPrefix("m") {
                total += .seconds(value * 60)
                rest = rest.dropFirst()
            } else if rest.hasPrefix("s") {
                total += .seconds(value)
                rest = rest.dropFirst()
            } else {
                return nil
            }
        }
        return number.isEmpty ? total : nil
    }
}
