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
        public var name: String
        public var url: URL
        /// A PEM file of CA certificates to trust instead of the system store (pinning).
        public var caFile: String?
        /// The control room's Ed25519 public key (base64url of the 32 raw bytes) that signs its commands.
        public var controlRoomKey: String
        public var backlogOrder: BacklogOrder
        public var timeout: Duration
        public var batchSize: Int
    }

    /// How often records are made.
    public struct Rates: Sendable, Equatable {
        public var position: Duration = .seconds(60)
        public var emergencyPosition: Duration = .seconds(10)
        /// How long the faster emergency rate lasts after the emergency is cleared.
        public var emergencyTrackingAfter: Duration = .seconds(30 * 60)
        public var health: Duration = .seconds(300)
    }

    public var deviceID: String?
    public var boardFile: String
    public var keyFile: String
    public var outboxPath: String
    public var outboxMaxRecords: Int
    public var backends: [Backend]
    public var rates: Rates
    /// Booth privacy: no position leaves the box except inside an alert.
    public var privacyMode: Bool
    public var logLevel: String
    /// Where the daemon serves its read-only status socket (`panicd status` reads it).
    public var statusSocket: String = DaemonConfig.defaultStatusSocket

    public static let defaultOutboxMaxRecords = 50_000
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
    ]
    static let outboxKeys: Set<String> = ["path", "max_records"]
    static let backendKeys: Set<String> = [
        "name", "url", "ca", "controlroom_key", "backlog_order", "timeout", "batch_size",
    ]
    static let rateKeys: Set<String> = ["position", "emergency_position", "emergency_tracking_after", "health"]
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

        var backends: [Backend] = []
        if let node = top["backends"], let list = reader.sequence(node, at: "backends") {
            for (index, item) in list.enumerated() {
                let key = "backends[\(index)]"
                guard let map = reader.mapping(item, at: key, known: backendKeys) else { continue }
                let name = reader.string(map["name"], at: "\(key).name")
                let urlText = reader.string(map["url"], at: "\(key).url")
                let url = urlText.flatMap(URL.init(string:))
                if let urlText, url?.scheme.map({ ["http", "https"].contains($0) }) != true || url?.host == nil {
                    reader.report(.invalidValue, "\(key).url", "'\(urlText)' is not an http(s) URL", at: map["url"])
                }
                let ca = resolve(reader.string(map["ca"], at: "\(key).ca", required: false))
                let crKey = reader.string(map["controlroom_key"], at: "\(key).controlroom_key")
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
                if let name, let url, let crKey {
                    backends.append(
                        Backend(
                            name: name, url: url, caFile: ca, controlRoomKey: crKey,
                            backlogOrder: order ?? .oldestFirst,
                            timeout: timeout, batchSize: batch))
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
        guard let board, let key, let outboxPath, reader.problems.isEmpty else { return (nil, reader.problems) }
        var config = DaemonConfig(
            deviceID: deviceID, boardFile: board, keyFile: key, outboxPath: outboxPath, outboxMaxRecords: maxRecords,
            backends: backends, rates: rates, privacyMode: privacy, logLevel: logLevel)
        config.statusSocket = statusSocket
        return (config, [])
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
