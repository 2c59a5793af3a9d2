import PanicCore
import PanicHardware
import Synchronization

/// Errors of the simulated board's script.
public struct SimulatedLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The simulated board's input lines: edges come from a script (tests, `panicd inputs watch` on the sim board)
/// instead of GPIO, stamped with the injected clock, through the same ``InputLines`` seam as libgpiod.
///
/// The script speaks in contacts and in what a person or installer does: ``press(_:at:)`` and
/// ``release(_:at:)`` (for a normally-closed loop a press opens the contact), ``bounce(_:edges:over:at:)``,
/// ``cutWire(_:at:)``, ``openEnclosure(at:)``, ``losePower(at:)``. A stuck button is a press never released.
public final class SimulatedInputLines: InputLines {
    public let specs: [InputLineSpec]
    private let clock: any MonotonicClock
    private let stream: AsyncThrowingStream<EdgeEvent, any Error>
    private let continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation

    private struct State {
        var closed: [Bool]
        var sequence: UInt64 = 0
        var closedForGood = false
    }
    private let state: Mutex<State>

    /// Lines at rest: buttons and the enclosure in their rest state, main power present, ignition off.
    /// `closed` overrides the starting contact of the lines it names.
    public init(specs: [InputLineSpec], clock: any MonotonicClock, closed overrides: [String: Bool] = [:]) {
        self.specs = specs
        self.clock = clock
        let closed = specs.map { spec -> Bool in
            if let value = overrides[spec.name] { return value }
            let asserted = spec.role == .power
            return spec.contact == .normallyOpen ? asserted : !asserted
        }
        state = Mutex(State(closed: closed))
        (stream, continuation) = AsyncThrowingStream.makeStream(of: EdgeEvent.self, bufferingPolicy: .unbounded)
    }

    public func contactsClosed() throws -> [Bool] { state.withLock { $0.closed } }

    public func edges() -> AsyncThrowingStream<EdgeEvent, any Error> { stream }

    /// The script's edges are in ``edges()`` as soon as it makes them: the last one's sequence.
    public func deliverQueued() -> UInt64? { edgeCount }

    public func close() {
        state.withLock { $0.closedForGood = true }
        continuation.finish()
    }

    /// Ends the edge stream with `error`, as a failing backend would.
    public func fail(_ error: any Error) { continuation.finish(throwing: error) }

    /// How many edges have been delivered.
    public var edgeCount: UInt64 { state.withLock { $0.sequence } }

    /// The index of the line named `name` (its board-file name or its GPIO line name).
    public func index(of name: String) throws(SimulatedLineError) -> Int {
        if let index = specs.firstIndex(where: { $0.name == name || $0.line == .name(name) }) { return index }
        throw SimulatedLineError(
            "no input line named \(name) (the board has \(specs.map(\.name).joined(separator: ", ")))")
    }

    /// The index of the first line with `role`.
    public func index(of role: InputRole) throws(SimulatedLineError) -> Int {
        if let index = specs.firstIndex(where: { $0.role == role }) { return index }
        throw SimulatedLineError("the board has no \(role.rawValue) input")
    }

    /// Sets line `index`'s contact; an edge is delivered only when the contact actually changes.
    public func setContact(_ index: Int, closed: Bool, at time: MonotonicInstant? = nil) {
        let at = time ?? clock.now
        let event = state.withLock { state -> EdgeEvent? in
            guard !state.closedForGood, state.closed[index] != closed else { return nil }
            state.closed[index] = closed
            state.sequence += 1
            return EdgeEvent(
                line: index, name: specs[index].name, edge: closed ? .rising : .falling, timestamp: at,
                sequence: state.sequence)
        }
        if let event { continuation.yield(event) }
    }

    /// Puts line `index` in its asserted state (button down, enclosure open, power present, ignition on) or not.
    public func setAsserted(_ index: Int, _ asserted: Bool, at time: MonotonicInstant? = nil) {
        let closed = specs[index].contact == .normallyOpen ? asserted : !asserted
        setContact(index, closed: closed, at: time)
    }

    /// Presses the button named `name` (board name or line name); for a normally-closed loop the contact opens.
    public func press(_ name: String, at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: name), true, at: time)
    }

    /// Lets go of the button named `name`.
    public func release(_ name: String, at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: name), false, at: time)
    }

    /// Cuts the wire of line `name`: the contact opens for good (on a normally-closed loop, this looks like a press).
    public func cutWire(_ name: String, at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setContact(try index(of: name), closed: false, at: time)
    }

    /// Puts line `name` back at rest: a normally-closed loop's wire is mended (closed), a normally-open button is
    /// let go (open).
    public func restore(_ name: String, at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        let index = try index(of: name)
        setContact(index, closed: specs[index].contact == .normallyClosed, at: time)
    }

    /// Contact bounce: `edges` alternating edges spread evenly over `over` from `at` (the clock's now when nil),
    /// ending with the contact `closed`; an odd count ends the other way round from where it started.
    public func bounce(
        _ name: String, edges: Int, over span: Duration, at time: MonotonicInstant? = nil
    ) throws(SimulatedLineError) {
        let index = try index(of: name)
        let start = time ?? clock.now
        let step = edges > 1 ? span / (edges - 1) : .zero
        for edge in 0..<edges {
            let closed = !state.withLock { $0.closed[index] }
            setContact(index, closed: closed, at: start.advanced(by: step * edge))
        }
    }

    /// Opens the enclosure (asserts the first tamper line).
    public func openEnclosure(at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: .tamper), true, at: time)
    }

    /// Shuts the enclosure.
    public func closeEnclosure(at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: .tamper), false, at: time)
    }

    /// Main power goes away.
    public func losePower(at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: .power), false, at: time)
    }

    /// Main power comes back.
    public func restorePower(at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: .power), true, at: time)
    }

    /// Switches the ignition on or off.
    public func ignition(_ on: Bool, at time: MonotonicInstant? = nil) throws(SimulatedLineError) {
        setAsserted(try index(of: .ignition), on, at: time)
    }
}
