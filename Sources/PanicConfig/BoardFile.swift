import Foundation
import PanicCore
import Yams

/// A board file that cannot be used, with every problem found in it.
public struct BoardFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problems: [BoardProblem]
    public var description: String {
        "board file \(path): " + problems.map(\.description).joined(separator: "; ")
    }
}

/// Reads board definition files (YAML; the format is documented in `boards/README.md`).
public enum BoardFile {
    /// The outcome of reading one file: the board when it is usable, and every problem found.
    public struct Result: Sendable {
        public var path: String
        public var board: BoardDefinition?
        public var problems: [BoardProblem]
        public var isValid: Bool { board != nil && problems.isEmpty }
    }

    static let topKeys: Set<String> = [
        "board", "model", "backend", "chip", "inputs", "outputs", "gnss", "notes", "sources", "supply",
    ]
    static let inputKeys: Set<String> = [
        "name", "role", "chip", "line", "contact", "closed_level", "bias", "debounce_ms", "hold_ms", "wire_cut_ms",
        "stuck_ms",
    ]
    static let outputKeys: Set<String> = ["name", "role", "chip", "line", "active_level", "led"]
    static let gnssKeys: Set<String> = ["port", "baud", "gpsd"]

    /// Reads and checks the file at `path`. A file that cannot be read is a problem, not a thrown error, so a
    /// check over many files reports them all.
    public static func load(path: String) -> Result {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            return Result(
                path: path, board: nil, problems: [.init(.syntax, key: "", "cannot read the file: \(reason)")])
        }
        var result = parse(text)
        result.path = path
        return result
    }

    /// Reads the file at `path` for use: the board, or an error listing every problem found in it.
    public static func loadValid(path: String) throws(BoardFileError) -> BoardDefinition {
        let result = load(path: path)
        guard let board = result.board, result.isValid else {
            throw BoardFileError(path: path, problems: result.problems)
        }
        return board
    }

    /// Parses board YAML held in memory; `path` in the result is empty.
    public static func parse(_ text: String) -> Result {
        var reader = YAMLReader()
        guard let root = reader.compose(text), let top = reader.mapping(root, at: "", known: topKeys) else {
            return Result(path: "", board: nil, problems: reader.problems)
        }
        let id = reader.string(top["board"], at: "board")
        let model = reader.string(top["model"], at: "model")
        let backend =
            reader.choice(top["backend"], at: "backend", as: BoardBackend.self, required: false) ?? .gpiod
        let defaultChip = reader.string(top["chip"], at: "chip", required: false)
        let notes = reader.string(top["notes"], at: "notes", required: false) ?? ""
        var sources: [String] = []
        if let node = top["sources"], let list = reader.sequence(node, at: "sources") {
            sources = list.enumerated().compactMap { reader.string($1, at: "sources[\($0)]") }
        }

        var inputs: [InputLineSpec] = []
        if let node = top["inputs"], let list = reader.sequence(node, at: "inputs") {
            for (index, item) in list.enumerated() {
                if let input = readInput(item, at: "inputs[\(index)]", defaultChip: defaultChip, reader: &reader) {
                    inputs.append(input)
                }
            }
        } else if top["inputs"] == nil {
            reader.report(
                .missingKey, "inputs", "missing required key: a board needs at least an emergency input", at: root)
        }

        var outputs: [OutputLineSpec] = []
        if let node = top["outputs"], let list = reader.sequence(node, at: "outputs") {
            for (index, item) in list.enumerated() {
                if let output = readOutput(item, at: "outputs[\(index)]", defaultChip: defaultChip, reader: &reader) {
                    outputs.append(output)
                }
            }
        }

        var gnss: GNSSPortSpec?
        if let node = top["gnss"], let map = reader.mapping(node, at: "gnss", known: gnssKeys) {
            let gpsd = reader.string(map["gpsd"], at: "gnss.gpsd", required: false)
            let port = reader.string(map["port"], at: "gnss.port", required: false)
            let baud = reader.integer(map["baud"], at: "gnss.baud") ?? BoardDefaults.baud
            if let port {
                gnss = GNSSPortSpec(port: port, baud: baud, gpsd: gpsd)
            } else if let gpsd {
                gnss = GNSSPortSpec(port: BoardDefaults.gnssPort, baud: baud, gpsd: gpsd)
            } else if map["port"] == nil {
                reader.report(
                    .missingGNSSPort, "gnss.port", "missing GNSS port: give the serial device (e.g. /dev/panic-gnss)",
                    at: node
                )
            }
        } else if top["gnss"] == nil {
            reader.report(.missingGNSSPort, "gnss", "missing GNSS section: give gnss.port and gnss.baud", at: root)
        }

        var supply: SupplySpec?
        if let node = top["supply"] { supply = readSupply(node, reader: &reader) }

        guard let id, let model, let gnss, reader.problems.isEmpty else {
            return Result(path: "", board: nil, problems: reader.problems)
        }
        let board = BoardDefinition(
            id: id, model: model, backend: backend, inputs: inputs, outputs: outputs, gnss: gnss, notes: notes,
            sources: sources, supply: supply
        )
        return Result(path: "", board: board, problems: board.problems().map(reader.placed))
    }

    static let supplyKeys: Set<String> = ["main", "backup"]
    static let supplySourceKeys: Set<String> = ["power_supply", "iio", "channel", "divider"]

    /// `supply: {main: SOURCE, backup: SOURCE}`, each SOURCE `{power_supply: NAME}` or
    /// `{iio: iio:deviceN, channel: N, divider: RATIO}`.
    private static func readSupply(_ node: Node, reader: inout YAMLReader) -> SupplySpec? {
        guard let map = reader.mapping(node, at: "supply", known: supplyKeys) else { return nil }
        if map.isEmpty {
            reader.report(
                .missingKey, "supply", "empty supply section: give supply.main and/or supply.backup", at: node)
            return nil
        }
        var spec = SupplySpec()
        for key in ["main", "backup"] {
            guard let sourceNode = map[key] else { continue }
            let path = "supply.\(key)"
            guard let source = reader.mapping(sourceNode, at: path, known: supplySourceKeys) else { continue }
            let powerSupply = reader.string(source["power_supply"], at: "\(path).power_supply", required: false)
            let device = reader.string(source["iio"], at: "\(path).iio", required: false)
            var parsed: SupplySpec.Source?
            switch (powerSupply, device) {
            case (let name?, nil):
                if source["channel"] != nil || source["divider"] != nil {
                    reader.report(
                        .invalidValue, path, "channel and divider belong to an iio source, not a power_supply one",
                        at: sourceNode)
                } else if !SupplySpec.isEntryName(name) {
                    reader.report(
                        .invalidValue, "\(path).power_supply",
                        "'\(name)' is not a power_supply device name (e.g. 'battery', as in /sys/class/power_supply/)",
                        at: source["power_supply"])
                } else {
                    parsed = .powerSupply(name: name)
                }
            case (nil, let device?):
                let channel = reader.integer(source["channel"], at: "\(path).channel")
                let divider = number(source["divider"], at: "\(path).divider", reader: &reader)
                if !SupplySpec.isEntryName(device) || !device.hasPrefix("iio:device") {
                    reader.report(
                        .invalidValue, "\(path).iio",
                        "'\(device)' is not an IIO device name (e.g. 'iio:device0', as in /sys/bus/iio/devices/)",
                        at: source["iio"])
                } else if source["channel"] == nil {
                    reader.report(
                        .missingKey, "\(path).channel", "missing ADC channel (the N of in_voltageN_raw)", at: sourceNode
                    )
                } else if let channel, channel < 0 {
                    reader.report(
                        .invalidValue, "\(path).channel", "channel must be 0 or more, not \(channel)",
                        at: source["channel"])
                } else if source["divider"] == nil {
                    reader.report(
                        .missingKey, "\(path).divider",
                        "missing divider: the ratio from the supply to the ADC pin (1 when connected directly)",
                        at: sourceNode)
                } else if let divider, !(divider > 0 && divider.isFinite) {
                    reader.report(
                        .invalidValue, "\(path).divider", "divider must be above 0, not \(divider)",
                        at: source["divider"])
                } else if let channel, let divider {
                    parsed = .iio(device: device, channel: channel, divider: divider)
                }
            case (.some, .some):
                reader.report(.invalidValue, path, "give either power_supply or iio, not both", at: sourceNode)
            case (nil, nil):
                reader.report(
                    .missingKey, path, "give power_supply: NAME or iio: iio:deviceN with channel and divider",
                    at: sourceNode)
            }
            if key == "main" { spec.main = parsed } else { spec.backup = parsed }
        }
        return spec
    }

    /// A number (whole or with decimals).
    private static func number(_ node: Node?, at key: String, reader: inout YAMLReader) -> Double? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, !YAMLReader.isNull(node), let value = Double(scalar.string) else {
            reader.report(.wrongType, key, "expected a number, found \(YAMLReader.describe(node))", at: node)
            return nil
        }
        return value
    }

    private static func readInput(
        _ node: Node, at key: String, defaultChip: String?, reader: inout YAMLReader
    ) -> InputLineSpec? {
        guard let map = reader.mapping(node, at: key, known: inputKeys) else { return nil }
        let name = reader.string(map["name"], at: "\(key).name")
        let role = reader.choice(map["role"], at: "\(key).role", as: InputRole.self, unknownKind: .unknownRole)
        let chip = chip(map["chip"], at: key, defaultChip: defaultChip, reader: &reader)
        let line = lineReference(map["line"], at: "\(key).line", reader: &reader)
        let contact = reader.choice(map["contact"], at: "\(key).contact", as: ContactType.self, required: false)
        let closed = reader.choice(map["closed_level"], at: "\(key).closed_level", as: Level.self, required: false)
        let bias = reader.choice(map["bias"], at: "\(key).bias", as: Bias.self, required: false)
        let debounce = milliseconds(map["debounce_ms"], at: "\(key).debounce_ms", reader: &reader)
        let hold = milliseconds(map["hold_ms"], at: "\(key).hold_ms", reader: &reader)
        let wireCut = milliseconds(map["wire_cut_ms"], at: "\(key).wire_cut_ms", reader: &reader)
        let stuck = milliseconds(map["stuck_ms"], at: "\(key).stuck_ms", reader: &reader)
        guard let name, let role, let chip, let line else { return nil }
        return InputLineSpec(
            name: name, role: role, chip: chip, line: line, contact: contact ?? .normallyOpen,
            closedLevel: closed ?? .low, bias: bias ?? .pullUp, debounce: debounce ?? BoardDefaults.debounce,
            hold: hold, wireCutAfter: wireCut ?? BoardDefaults.wireCutAfter,
            stuckAfter: stuck ?? BoardDefaults.stuckAfter
        )
    }

    private static func readOutput(
        _ node: Node, at key: String, defaultChip: String?, reader: inout YAMLReader
    ) -> OutputLineSpec? {
        guard let map = reader.mapping(node, at: key, known: outputKeys) else { return nil }
        let name = reader.string(map["name"], at: "\(key).name")
        let role = reader.choice(map["role"], at: "\(key).role", as: OutputRole.self, unknownKind: .unknownRole)
        if map["led"] != nil {
            // A kernel LED-class LED: no chip, line or level of its own (the LED driver knows them).
            for other in ["chip", "line", "active_level"] where map[other] != nil {
                reader.report(
                    .invalidValue, "\(key).\(other)", "an output with 'led' has no '\(other)'", at: map[other])
            }
            guard let name, let role, let led = reader.string(map["led"], at: "\(key).led") else { return nil }
            return OutputLineSpec(name: name, role: role, led: led)
        }
        let chip = chip(map["chip"], at: key, defaultChip: defaultChip, reader: &reader)
        let line = lineReference(map["line"], at: "\(key).line", reader: &reader)
        let active = reader.choice(map["active_level"], at: "\(key).active_level", as: Level.self, required: false)
        guard let name, let role, let chip, let line else { return nil }
        return OutputLineSpec(name: name, role: role, chip: chip, line: line, activeLevel: active ?? .high)
    }

    private static func chip(_ node: Node?, at key: String, defaultChip: String?, reader: inout YAMLReader) -> String? {
        if let chip = reader.string(node, at: "\(key).chip", required: false) { return chip }
        if node == nil, defaultChip == nil {
            reader.report(.missingKey, "\(key).chip", "no chip label here and no top-level 'chip' default", at: nil)
        }
        return defaultChip
    }

    /// A line is a device-tree name (`GPIO17`, `P8_07`) or a non-negative offset within the chip.
    private static func lineReference(_ node: Node?, at key: String, reader: inout YAMLReader) -> LineReference? {
        guard let node else {
            reader.report(.missingKey, key, "missing required key", at: nil)
            return nil
        }
        if case .scalar(let scalar) = node, scalar.style == .plain, let offset = node.int {
            return .offset(offset)
        }
        guard let name = reader.string(node, at: key), !name.isEmpty else { return nil }
        return .name(name)
    }

    private static func milliseconds(_ node: Node?, at key: String, reader: inout YAMLReader) -> Duration? {
        reader.integer(node, at: key).map { .milliseconds($0) }
    }
}
