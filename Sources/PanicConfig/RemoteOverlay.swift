import Foundation
import PanicCore
import Yams

/// The remotely settable part of `panicd.yaml` and the one merge rule of a remote configuration (a signed
/// `ConfigDocument`'s `settings`) over the local file (docs/configuration.md → *Remote configuration*):
///
/// - the overlay is a YAML mapping of top-level keys; only ``settableKeys`` may appear;
/// - `rates` and `sms` merge one level deep (each key the overlay gives replaces the local one, the others stay);
///   every other key (`backends`, `privacy_mode`, `log_level`) replaces the local value as a whole;
/// - what must stay local is refused, naming the key: the device key, the board, the outbox, the device id, the
///   group, the identity, the status socket, the SMS modem's port and speed, and in `backends` every backend's
///   pinned `controlroom_key` and `ca`. A backend in the overlay takes those from the local backend of the same
///   name; a new `panicbridge` backend (which needs a pinned key) is refused;
/// - the merged text is checked by the same parser as the file (`DaemonConfig.parse`), so a remote configuration
///   is never looser than a local one.
public enum RemoteOverlay {
    /// Top-level keys an overlay may set.
    public static let settableKeys: Set<String> = ["backends", "sms", "rates", "privacy_mode", "log_level"]
    /// Top-level keys that stay local.
    public static let localKeys: Set<String> = DaemonConfig.topKeys.subtracting(settableKeys)
    /// `sms` keys that stay local (the modem).
    public static let localSMSKeys: Set<String> = ["port", "baud"]
    /// Backend keys that stay local (trust anchors), taken from the local backend of the same name.
    public static let localBackendKeys: Set<String> = ["controlroom_key", "ca"]
    /// Top-level mappings that merge one level deep.
    static let mergedMappings: Set<String> = ["rates", "sms"]

    /// The directory a configuration file's relative paths resolve against (pass it as `relativeTo`).
    public static func base(ofFile path: String) -> URL { RelativePaths.directory(of: path) }

    /// Why an overlay was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// Not YAML, or not a mapping.
        case malformed(String)
        /// The overlay sets a key that must stay local.
        case localOnly(key: String)
        /// The overlay sets a key `panicd.yaml` does not have.
        case unknownKey(String)
        /// A `panicbridge` backend the local file does not have: its control-room key can only be pinned locally.
        case newControlRoom(backend: String)
        /// The merged configuration fails the checks of `panicd config check`.
        case invalid([BoardProblem])

        public var description: String {
            switch self {
            case .malformed(let reason): "the overlay is not a YAML mapping: \(reason)"
            case .localOnly(let key): "\(key) is set on the box only and cannot be set remotely"
            case .unknownKey(let key): "unknown key '\(key)'"
            case .newControlRoom(let backend):
                "backend '\(backend)' is a panicbridge control room the local file does not pin a key for; "
                    + "a control-room key is pinned on the box only"
            case .invalid(let problems):
                "the merged configuration fails the check: "
                    + problems.map(\.description).joined(separator: "; ")
            }
        }
    }

    /// Merges `overlay` over the local file's text and checks the result as `panicd config check` parses a file.
    /// Returns the merged YAML text and its parsed configuration.
    public static func merge(
        overlay: String, over local: String, relativeTo base: URL? = nil
    ) -> Result<(text: String, config: DaemonConfig), Refusal> {
        let localNode: Node
        do {
            guard let node = try Yams.compose(yaml: local, .basic), case .mapping = node else {
                return .failure(.invalid([.init(.syntax, key: "", "the local configuration is not a mapping")]))
            }
            localNode = node
        } catch {
            return .failure(.invalid([.init(.syntax, key: "", "the local configuration: \(error)")]))
        }
        let overlayNode: Node
        do {
            guard let node = try Yams.compose(yaml: overlay, .basic) else { return .failure(.malformed("it is empty")) }
            overlayNode = node
        } catch { return .failure(.malformed("\(error)")) }
        guard case .mapping(let changes) = overlayNode, case .mapping(var merged) = localNode else {
            return .failure(.malformed("expected a mapping of panicd.yaml keys"))
        }
        let localBackends = namedBackends(merged["backends"])
        for (keyNode, value) in changes {
            let key = keyNode.string ?? "\(keyNode)"
            guard settableKeys.contains(key) else {
                return .failure(localKeys.contains(key) ? .localOnly(key: key) : .unknownKey(key))
            }
            switch key {
            case "backends":
                switch backends(value, local: localBackends) {
                case .success(let node): merged[keyNode] = node
                case .failure(let refusal): return .failure(refusal)
                }
            case _ where mergedMappings.contains(key):
                guard case .mapping(let entries) = value else {
                    return .failure(.malformed("\(key) must be a mapping"))
                }
                var target: Node.Mapping
                if case .mapping(let existing)? = merged[keyNode] { target = existing } else { target = [:] }
                for (entryKey, entryValue) in entries {
                    let name = entryKey.string ?? "\(entryKey)"
                    if key == "sms", localSMSKeys.contains(name) { return .failure(.localOnly(key: "sms.\(name)")) }
                    target[entryKey] = entryValue
                }
                merged[keyNode] = .mapping(target)
            default:
                merged[keyNode] = value
            }
        }
        let text: String
        do { text = try Yams.serialize(node: .mapping(merged)) } catch {
            return .failure(.malformed("cannot write the merged configuration: \(error)"))
        }
        let (config, problems) = DaemonConfig.parse(text, relativeTo: base)
        guard let config else { return .failure(.invalid(problems)) }
        return .success((text, config))
    }

    /// The overlay's backends, each given the local backend's pinned key and CA by name.
    static func backends(_ node: Node, local: [String: Node.Mapping]) -> Result<Node, Refusal> {
        guard case .sequence(let list) = node else { return .failure(.malformed("backends must be a list")) }
        var result: [Node] = []
        for (index, item) in list.enumerated() {
            guard case .mapping(var backend) = item else {
                return .failure(.malformed("backends[\(index)] must be a mapping"))
            }
            for key in localBackendKeys where backend[key] != nil {
                return .failure(.localOnly(key: "backends[\(index)].\(key)"))
            }
            let name = backend["name"]?.string ?? ""
            let wire = backend["protocol"]?.string ?? DaemonConfig.Backend.WireProtocol.panicbridge.rawValue
            if let existing = local[name] {
                for key in localBackendKeys { if let value = existing[key] { backend[key] = value } }
            }
            if wire == DaemonConfig.Backend.WireProtocol.panicbridge.rawValue,
                local[name]?["controlroom_key"] == nil
            {
                return .failure(.newControlRoom(backend: name))
            }
            result.append(.mapping(backend))
        }
        return .success(.sequence(.init(result)))
    }

    /// The local file's backends by name.
    static func namedBackends(_ node: Node?) -> [String: Node.Mapping] {
        guard case .sequence(let list)? = node else { return [:] }
        var result: [String: Node.Mapping] = [:]
        for case .mapping(let backend) in list {
            if let name = backend["name"]?.string { result[name] = backend }
        }
        return result
    }
}
