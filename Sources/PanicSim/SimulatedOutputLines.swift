import PanicCore
import PanicHardware
import Synchronization

/// The simulated board's outputs: every change is recorded with the injected clock's time, for assertions and
/// for `panicd inputs test` on the sim board. An output the board gives as a kernel LED-class LED (`led:`) plays
/// periodic patterns by itself, as the kernel's trigger would: the pattern is recorded once, and its level is
/// computed from the clock whenever asked (no timer).
public final class SimulatedOutputLines: PatternOutputs {
    /// One recorded change.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var role: OutputRole
        public var on: Bool
        public var at: MonotonicInstant

        public init(name: String, role: OutputRole, on: Bool, at: MonotonicInstant) {
            self.name = name
            self.role = role
            self.on = on
            self.at = at
        }

        public var description: String { "\(at) \(name) \(on ? "on" : "off")" }
    }

    /// A pattern an LED-class output was handed, and since when it plays.
    public struct Play: Sendable, Equatable {
        public var name: String
        public var pattern: IndicatorPattern
        public var since: MonotonicInstant
    }

    public let specs: [OutputLineSpec]
    private let clock: any MonotonicClock
    private let state: Mutex<(values: [Bool], playing: [Play?], changes: [Change], plays: [Play])>

    public init(specs: [OutputLineSpec], clock: any MonotonicClock) {
        self.specs = specs
        self.clock = clock
        state = Mutex(
            (Array(repeating: false, count: specs.count), Array(repeating: nil, count: specs.count), [], []))
    }

    public func set(_ index: Int, on: Bool) throws {
        let now = clock.now
        state.withLock { state in
            // A set ends a pattern the output was playing; a change is one from the level it showed.
            let shown = state.playing[index].map { $0.pattern.level(after: $0.since.duration(to: now)) }
            state.playing[index] = nil
            guard (shown ?? state.values[index]) != on else {
                state.values[index] = on
                return
            }
            state.values[index] = on
            state.changes.append(Change(name: specs[index].name, role: specs[index].role, on: on, at: now))
        }
    }

    /// LED-class outputs play every periodic pattern; lines do not.
    public func canPlay(_ pattern: IndicatorPattern, on index: Int) -> Bool {
        specs[index].led != nil && pattern.isPeriodic
    }

    public func play(_ pattern: IndicatorPattern, on index: Int) throws {
        let play = Play(name: specs[index].name, pattern: pattern, since: clock.now)
        state.withLock { state in
            state.playing[index] = play
            state.plays.append(play)
        }
    }

    public func close() {
        for index in specs.indices { try? set(index, on: false) }
    }

    /// Every change so far, in order (levels set one at a time; not the steps of a pattern played by itself).
    public var changes: [Change] { state.withLock { $0.changes } }

    /// Every pattern handed to an LED-class output, in order.
    public var plays: [Play] { state.withLock { $0.plays } }

    /// Whether output `index` is on now (for one playing a pattern: where the pattern is now).
    public func isOn(_ index: Int) -> Bool {
        let now = clock.now
        return state.withLock { state in
            state.playing[index].map { $0.pattern.level(after: $0.since.duration(to: now)) } ?? state.values[index]
        }
    }
}
