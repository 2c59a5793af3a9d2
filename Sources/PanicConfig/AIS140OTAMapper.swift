import Foundation
import PanicCore
import Yams

/// What an AIS-140 OTA command (`AIS140.OTA.Command`) does to this box's configuration: a `SET` becomes the same
/// overlay a signed configuration document carries, merged by ``RemoteOverlay/merge(overlay:over:relativeTo:)`` and
/// checked as `panicd config check` checks a file; a `GET` reads the effective configuration; `CLR EO` asks for the
/// emergency to be cleared (docs/uplink.md → *AIS-140 OTA commands*).
///
/// | key | meaning on this box | `SET` | `GET` |
/// |---|---|---|---|
/// | `PIP`/`PPT` | the first `ais140` backend's host / port (`backends[].url`) | yes | yes |
/// | `SIP`/`SPT` | the second `ais140` backend's host / port | yes | yes |
/// | `UR` | `rates.position`, seconds | yes | yes |
/// | `URE` | `rates.emergency_position`, seconds | yes | yes |
/// | `URH` | `rates.health`, minutes | yes | yes |
/// | `ED` | `rates.emergency_tracking_after`, minutes | yes | yes |
/// | `VN` | `identity.vehicle_registration` (local only, as for a signed document) | refused | yes |
/// | `APN` | the data connection is the operating system's, not panicd's | refused | refused |
/// | `SL` | the box makes no overspeed alert | refused | refused |
/// | `EO` | clears the active emergency (authorised backends only) | `SET EO`/`CLR EO` | — |
public enum AIS140OTAMapper {
    public typealias Key = AIS140.OTA.Key

    /// Why a command cannot be carried out; answered to the sender.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// A `SET` that changes the configuration: the overlay, and the merged text and configuration it gives.
    public struct Change: Sendable {
        public var overlay: String
        public var mergedText: String
        public var config: DaemonConfig
        /// Each key set with its value, in the command's order (for the answer and the Alert 12 frames).
        public var values: [(key: Key, value: String)]
    }

    /// What a command asks of the box.
    public enum Action: Sendable {
        /// A `SET` of configuration keys.
        case change(Change)
        /// A `GET`: each key's effective value.
        case read([(key: Key, value: String)])
        /// `CLR EO` (or `SET EO`): clear the active emergency.
        case clearEmergency
    }

    /// Decides what `command` does to the configuration whose text is `currentText` (the local file with any
    /// remote configuration merged over it), its relative paths resolved against `base`.
    public static func map(
        _ command: AIS140.OTA.Command, currentText: String, relativeTo base: URL? = nil
    ) -> Result<Action, Refusal> {
        if command.clearsEmergency {
            guard command.items.count == 1 else {
                return .failure(Refusal("EO (emergency off) must be sent alone"))
            }
            return .success(.clearEmergency)
        }
        let (parsed, problems) = DaemonConfig.parse(currentText, relativeTo: base)
        guard let current = parsed else {
            return .failure(Refusal("the box's configuration does not parse: \(problems.map(\.description))"))
        }
        switch command.verb {
        case .get:
            var values: [(key: Key, value: String)] = []
            for item in command.items {
                switch read(item.key, current) {
                case .success(let value): values.append((item.key, value))
                case .failure(let refusal): return .failure(refusal)
                }
            }
            return .success(.read(values))
        case .clear:
            return .failure(Refusal("CLR: only EO (emergency off) can be cleared"))
        case .set:
            return set(command.items, current: current, currentText: currentText, base: base).map { .change($0) }
        }
    }

    /// The `ais140` backends in order: the first is the primary server, the second the secondary.
    static func serverIndex(_ key: Key) -> Int {
        key == .primaryAddress || key == .primaryPort ? 0 : 1
    }

    static func read(_ key: Key, _ config: DaemonConfig) -> Result<String, Refusal> {
        switch key {
        case .primaryAddress, .primaryPort, .secondaryAddress, .secondaryPort:
            let servers = config.backends.filter { $0.wire == .ais140 }
            let index = serverIndex(key)
            guard index < servers.count else { return .failure(noServer(key, index: index)) }
            let url = servers[index].url
            return .success(
                key == .primaryAddress || key == .secondaryAddress ? url.host ?? "" : String(url.port ?? 0))
        case .rate: return .success(String(config.rates.position.components.seconds))
        case .emergencyRate: return .success(String(config.rates.emergencyPosition.components.seconds))
        case .healthRate: return .success(String(config.rates.health.components.seconds / 60))
        case .emergencyDuration: return .success(String(config.rates.emergencyTrackingAfter.components.seconds / 60))
        case .vehicleNumber: return .success(config.identity?.vehicleRegistration ?? "")
        case .apn, .speedLimit, .emergencyOff: return .failure(refused(key))
        }
    }

    static func refused(_ key: Key) -> Refusal {
        switch key {
        case .apn: Refusal("APN is not set by panicd: the data connection is the operating system's")
        case .speedLimit: Refusal("SL: this box makes no overspeed alert")
        case .vehicleNumber:
            Refusal("VN is identity.vehicle_registration, set on the box only (as for a signed configuration)")
        default: Refusal("\(key.rawValue) cannot be set")
        }
    }

    static func noServer(_ key: Key, index: Int) -> Refusal {
        Refusal(
            "\(key.rawValue): the box has no \(index == 0 ? "first (primary)" : "second (secondary)") ais140 backend")
    }

    static func set(
        _ items: [AIS140.OTA.Item], current: DaemonConfig, currentText: String, base: URL?
    ) -> Result<Change, Refusal> {
        var overlay: Node.Mapping = [:]
        var rates: Node.Mapping = [:]
        var backends: [Node.Mapping]?
        var values: [(key: Key, value: String)] = []
        for item in items {
            let value = item.value ?? ""
            switch item.key {
            case .rate: rates["position"] = Node("\(value)s")
            case .emergencyRate: rates["emergency_position"] = Node("\(value)s")
            case .healthRate: rates["health"] = Node("\(value)m")
            case .emergencyDuration: rates["emergency_tracking_after"] = Node("\(value)m")
            case .primaryAddress, .primaryPort, .secondaryAddress, .secondaryPort:
                if backends == nil {
                    switch currentBackends(currentText) {
                    case .success(let list): backends = list
                    case .failure(let refusal): return .failure(refusal)
                    }
                }
                let index = serverIndex(item.key)
                let positions = backends!.indices.filter {
                    backends![$0]["protocol"]?.string == DaemonConfig.Backend.WireProtocol.ais140.rawValue
                }
                guard index < positions.count, let url = backends![positions[index]]["url"]?.string,
                    var parts = URLComponents(string: url)
                else { return .failure(noServer(item.key, index: index)) }
                if item.key == .primaryAddress || item.key == .secondaryAddress {
                    parts.host = value
                } else {
                    parts.port = Int(value)
                }
                guard let moved = parts.string else {
                    return .failure(Refusal("\(item.key.rawValue): '\(value)' does not make a URL of '\(url)'"))
                }
                backends![positions[index]]["url"] = Node(moved)
            case .vehicleNumber, .apn, .speedLimit, .emergencyOff:
                return .failure(refused(item.key))
            }
            values.append((item.key, value))
        }
        if !rates.isEmpty { overlay["rates"] = .mapping(rates) }
        if let backends { overlay["backends"] = .sequence(.init(backends.map(Node.mapping))) }
        let text: String
        do { text = try Yams.serialize(node: .mapping(overlay)) } catch {
            return .failure(Refusal("cannot write the change: \(error)"))
        }
        switch RemoteOverlay.merge(overlay: text, over: currentText, relativeTo: base) {
        case .failure(let refusal): return .failure(Refusal(refusal.description))
        case .success(let merged):
            return .success(Change(overlay: text, mergedText: merged.text, config: merged.config, values: values))
        }
    }

    /// The current text's backends, each without the keys that stay local (the merge puts them back by name).
    static func currentBackends(_ text: String) -> Result<[Node.Mapping], Refusal> {
        guard let root = try? Yams.compose(yaml: text, .basic), case .mapping(let top) = root,
            case .sequence(let list)? = top["backends"]
        else { return .failure(Refusal("the box's configuration has no backends")) }
        var result: [Node.Mapping] = []
        for case .mapping(var backend) in list {
            for key in RemoteOverlay.localBackendKeys { backend[key] = nil }
            result.append(backend)
        }
        return .success(result)
    }
}
