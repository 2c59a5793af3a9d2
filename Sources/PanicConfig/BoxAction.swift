import PanicCore

/// Something that happens to a simulated box or its control room: the one vocabulary of physical acts that
/// scenario timelines (`sim/scenarios/*.yaml`), input scripts (`panicd inputs watch --script`) and the
/// interactive simulator's keys are all turned into.
public enum BoxAction: Sendable, Equatable {
    /// What the control-room operator does.
    public enum OperatorAction: String, Sendable, Equatable, CaseIterable {
        case accept
        case clear
    }

    /// A person presses an input and lets go after `hold`; with no `hold` it stays pressed until `release`.
    case press(input: String, hold: Duration?)
    /// A person lets go of an input.
    case release(input: String)
    /// Contact bounce: `edges` edges within `span`. With a `hold`, it ends pressed (an odd number of edges) and is
    /// let go after `hold`; without, the contact is left where the edges leave it.
    case bounce(input: String, edges: Int, span: Duration, hold: Duration?)
    /// A normally-closed loop's wire is cut (stays open until `restore`).
    case cutWire(input: String)
    /// An input goes back to rest: a cut loop is repaired, a stuck button released.
    case restore(input: String)
    /// A button jams pressed.
    case stuck(input: String)
    /// The enclosure is opened or closed.
    case enclosure(open: Bool)
    /// Main power is lost or restored (the box runs on its backup battery meanwhile).
    case mainPower(on: Bool)
    /// The vehicle's ignition is switched on or off.
    case ignition(on: Bool)
    /// The box's own power is cut: every process state is dropped; it restarts from disk after `restoreAfter`.
    case powerCut(restoreAfter: Duration)
    /// GNSS reception is lost (a tunnel) or regained.
    case gnss(available: Bool)
    /// The network is down or up.
    case network(up: Bool)
    /// The control room answers the next `count` requests with HTTP `status`.
    case serverErrors(status: Int, count: Int)
    /// The control room stores the next `count` batches, and the answers are lost on the way back.
    case lostResponses(count: Int)
    /// The operator accepts or clears the device's open alerts.
    case operatorAction(OperatorAction)

}

/// A simulated-board input script (`panicd inputs watch` on the sim board): acts in the same vocabulary as
/// scenario timelines, one per line, with waits between them.
///
/// ```
/// press NAME | release NAME        a button (NAME: board name or line name); NC loops open on press
/// bounce NAME EDGES MS             EDGES alternating edges over MS milliseconds
/// cut NAME | restore NAME          open a loop's wire / put an input back at rest
/// enclosure open|closed
/// main_power on|off
/// ignition on|off
/// wait DURATION                    e.g. 300ms, 12s, 2m
/// # comment
/// ```
public enum InputScript {
    /// One script line.
    public enum Line: Sendable, Equatable {
        case act(BoxAction)
        case wait(Duration)
    }

    /// A script line that cannot be read, with its number.
    public struct Problem: Error, Sendable, CustomStringConvertible, Equatable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    static let verbs = "press, release, bounce, cut, restore, enclosure, main_power, ignition, wait"

    /// Parses one script line; nil for a blank or comment line.
    public static func parse(_ text: Substring, line number: Int) throws(Problem) -> Line? {
        let words =
            text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        guard let verb = words.first else { return nil }
        func argument(_ index: Int) throws(Problem) -> String {
            guard index < words.count else { throw Problem("script line \(number): \(verb) needs more arguments") }
            return words[index]
        }
        func choice(_ yes: String, _ no: String) throws(Problem) -> Bool {
            switch try argument(1) {
            case yes: return true
            case no: return false
            case let other: throw Problem("script line \(number): \(verb) \(yes)|\(no), not '\(other)'")
            }
        }
        switch verb {
        case "press": return .act(.press(input: try argument(1), hold: nil))
        case "release": return .act(.release(input: try argument(1)))
        case "cut": return .act(.cutWire(input: try argument(1)))
        case "restore": return .act(.restore(input: try argument(1)))
        case "bounce":
            guard let edges = Int(try argument(2)), let span = Int(try argument(3)), edges > 0, span >= 0 else {
                throw Problem("script line \(number): bounce NAME EDGES MS, with whole numbers")
            }
            return .act(.bounce(input: try argument(1), edges: edges, span: .milliseconds(span), hold: nil))
        case "enclosure": return .act(.enclosure(open: try choice("open", "closed")))
        case "main_power": return .act(.mainPower(on: try choice("on", "off")))
        case "ignition": return .act(.ignition(on: try choice("on", "off")))
        case "wait":
            let text = try argument(1)
            guard let duration = Scenario.parseOffset(text) else {
                throw Problem("script line \(number): \(text) is not a duration (300ms, 12s, 2m)")
            }
            return .wait(duration)
        default:
            throw Problem("script line \(number): unknown command \(verb) (\(verbs))")
        }
    }
}
