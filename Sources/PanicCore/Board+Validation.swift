/// One thing wrong with a board description, named by the key it concerns.
public struct BoardProblem: Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem, so tools and tests can tell them apart without reading prose.
    public enum Kind: String, Sendable, Equatable {
        case syntax
        case unknownKey = "unknown-key"
        case missingKey = "missing-key"
        case wrongType = "wrong-type"
        case invalidValue = "invalid-value"
        case unknownRole = "unknown-role"
        case duplicateName = "duplicate-name"
        case duplicateLine = "duplicate-line"
        case impossibleTiming = "impossible-timing"
        case missingGNSSPort = "missing-gnss-port"
        case noEmergencyInput = "no-emergency-input"
    }

    public var kind: Kind
    /// The key the problem is about, as a path: `inputs[2].debounce_ms`. Empty for the whole file.
    public var key: String
    public var message: String
    /// Line and column in the file (1-based), when the problem has a place in the text.
    public var line: Int?
    public var column: Int?

    public init(_ kind: Kind, key: String, _ message: String, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.key = key
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        let place = line.map { l in column.map { "\(l):\($0)" } ?? "\(l)" }
        return [place, key.isEmpty ? nil : key, message].compactMap { $0 }.joined(separator: ": ")
    }
}

extension BoardDefinition {
    /// Checks what a single key cannot: names and lines used twice, timings that can never classify a press,
    /// a board with no emergency input, a GNSS port that is not a device path.
    ///
    /// Key paths in the problems use the board file's own spelling (`inputs[0].debounce_ms`).
    public func problems() -> [BoardProblem] {
        var found: [BoardProblem] = []

        var firstUseOfName: [String: String] = [:]
        var firstUseOfLine: [String: String] = [:]
        func claim(name: String, chip: String, line: LineReference, at key: String) {
            if chip == BoardDefaults.anyChip, case .offset = line {
                found.append(
                    .init(
                        .invalidValue, key: "\(key).line",
                        "with chip '*' the line must be a name (an offset means nothing without a chip)"
                    )
                )
            }
            if let earlier = firstUseOfName[name] {
                found.append(.init(.duplicateName, key: "\(key).name", "name '\(name)' is already used by \(earlier)"))
            } else {
                firstUseOfName[name] = key
            }
            let lineKey = "\(chip)/\(line)"
            if let earlier = firstUseOfLine[lineKey] {
                found.append(
                    .init(
                        .duplicateLine, key: "\(key).line",
                        "line \(line) on chip '\(chip)' is already used by \(earlier)")
                )
            } else {
                firstUseOfLine[lineKey] = key
            }
        }

        for (index, input) in inputs.enumerated() {
            let key = "inputs[\(index)]"
            claim(name: input.name, chip: input.chip, line: input.line, at: key)
            if !BoardDefaults.debounceRange.contains(input.debounce) {
                found.append(
                    .init(
                        .impossibleTiming, key: "\(key).debounce_ms",
                        "debounce of \(input.debounce.milliseconds) ms is outside 1…1000 ms"
                    )
                )
            }
            if !BoardDefaults.holdRange.contains(input.hold) {
                found.append(
                    .init(
                        .impossibleTiming, key: "\(key).hold_ms",
                        "hold of \(input.hold.milliseconds) ms is outside 0…60000 ms")
                )
            }
            switch input.contact {
            case .normallyClosed where input.wireCutAfter <= input.debounce + input.hold:
                found.append(
                    .init(
                        .impossibleTiming, key: "\(key).wire_cut_ms",
                        "wire-cut time \(input.wireCutAfter.milliseconds) ms must be longer than debounce + hold "
                            + "(\((input.debounce + input.hold).milliseconds) ms), or every press would be a cut wire"
                    )
                )
            case .normallyOpen where input.stuckAfter <= input.debounce + input.hold:
                found.append(
                    .init(
                        .impossibleTiming, key: "\(key).stuck_ms",
                        "stuck time \(input.stuckAfter.milliseconds) ms must be longer than debounce + hold "
                            + "(\((input.debounce + input.hold).milliseconds) ms), or every press would be a stuck button"
                    )
                )
            default:
                break
            }
            if case .offset(let offset) = input.line, offset < 0 {
                found.append(.init(.invalidValue, key: "\(key).line", "line offset \(offset) is negative"))
            }
        }
        var leds: Set<String> = []
        for (index, output) in outputs.enumerated() {
            let key = "outputs[\(index)]"
            if let led = output.led {
                if let earlier = firstUseOfName[output.name] {
                    found.append(
                        .init(.duplicateName, key: "\(key).name", "name '\(output.name)' is already used by \(earlier)")
                    )
                } else {
                    firstUseOfName[output.name] = key
                }
                if led.isEmpty || led.contains("/") || led.hasPrefix(".") {
                    found.append(
                        .init(.invalidValue, key: "\(key).led", "'\(led)' is not an LED name under /sys/class/leds"))
                } else if !leds.insert(led).inserted {
                    found.append(.init(.duplicateLine, key: "\(key).led", "LED \(led) is already used"))
                }
                continue
            }
            claim(name: output.name, chip: output.chip, line: output.line, at: key)
            if case .offset(let offset) = output.line, offset < 0 {
                found.append(.init(.invalidValue, key: "\(key).line", "line offset \(offset) is negative"))
            }
        }

        if !inputs.contains(where: { $0.role == .emergency }) {
            found.append(
                .init(.noEmergencyInput, key: "inputs", "no input has role 'emergency'; a panic box needs one"))
        }

        if gnss.gpsd == nil {
            switch backend {
            case .gpiod where !gnss.port.hasPrefix("/dev/"):
                found.append(
                    .init(
                        .invalidValue, key: "gnss.port",
                        "'\(gnss.port)' is not a device path under /dev (use /dev/panic-gnss)")
                )
            case .simulated where gnss.port != "simulated" && !gnss.port.hasPrefix("/"):
                found.append(.init(.invalidValue, key: "gnss.port", "'\(gnss.port)' is neither 'simulated' nor a path"))
            default:
                break
            }
        }
        if !BoardDefaults.baudRates.contains(gnss.baud) {
            let rates = BoardDefaults.baudRates.sorted().map(String.init).joined(separator: ", ")
            found.append(.init(.invalidValue, key: "gnss.baud", "baud \(gnss.baud) is not one of \(rates)"))
        }
        return found
    }
}

extension Duration {
    /// Whole milliseconds, rounded toward zero.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
