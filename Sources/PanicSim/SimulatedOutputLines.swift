import PanicCore
import PanicHardware
import Synchronization

/// The simulated board's outputs: every change is recorded with the injected clock's time, for assertions and
/// for `panicd inputs test` on the sim board.
public final class SimulatedOutputLines: OutputLines {
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

    public let specs: [OutputLineSpec]
    private let clock: any MonotonicClock
    private let state: Mutex<(values: [Bool], changes: [Change])>

    public init(specs: [OutputLineSpec], clock: any MonotonicClock) {
        self.specs = specs
        self.clock = clock
        state = Mutex((Array(repeating: false, count: specs.count), []))
    }

    public func set(_ index: Int, on: Bool) throws {
        let now = clock.now
        state.withLock { state in
            guard state.values[index] != on else { return }
            state.values[index] = on
            state.changes.append(Change(name: specs[index].name, role: specs[index].role, on: on, at: now))
        }
    }

    public func close() {
        for index in specs.indices { try? set(index, on: false) }
    }

    /// Every change so far, in order.
    public var changes: [Change] { state.withLock { $0.changes } }

    /// Whether output `index` is on now.
    public func isOn(_ index: Int) -> Bool { state.withLock { $0.values[index] } }
}
