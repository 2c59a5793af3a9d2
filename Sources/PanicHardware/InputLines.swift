import PanicCore

/// Which way a line moved, in contact terms: backends apply the board's `closedLevel` (libgpiod's active-low
/// flag), so `rising` always means the contact closed and `falling` that it opened, whatever the wiring.
public enum Edge: String, Sendable, Equatable {
    /// The contact closed (started conducting).
    case rising
    /// The contact opened.
    case falling

    /// Whether the contact is closed after this edge.
    public var closed: Bool { self == .rising }
}

/// One edge on one input line, as the backend saw it.
public struct EdgeEvent: Sendable, Equatable, CustomStringConvertible {
    /// Index of the line in the board's `inputs` (and in ``InputLines/specs``).
    public var line: Int
    /// The line's name in the board file.
    public var name: String
    public var edge: Edge
    /// When it happened: the kernel's timestamp where there is one (libgpiod), the injected clock's otherwise.
    public var timestamp: MonotonicInstant
    /// Counts every edge the backend delivered, from 1, over all lines; a gap means the backend lost events.
    public var sequence: UInt64

    public init(line: Int, name: String, edge: Edge, timestamp: MonotonicInstant, sequence: UInt64) {
        self.line = line
        self.name = name
        self.edge = edge
        self.timestamp = timestamp
        self.sequence = sequence
    }

    public var description: String { "#\(sequence) \(timestamp) \(name) \(edge.rawValue)" }
}

/// A board's input lines, requested for edge events: the hardware seam for buttons and sense lines.
///
/// Implementations wait for edges without polling (file-descriptor readiness, or a script), and deliver them in
/// order through ``edges()``. Ending the iteration (or cancelling the task iterating) stops the waiting.
public protocol InputLines: Sendable {
    /// The lines, in board order; ``EdgeEvent/line`` indexes this array.
    var specs: [InputLineSpec] { get }

    /// Whether each line's contact is closed right now, read once when the watch starts.
    func contactsClosed() throws -> [Bool]

    /// The edges on all lines, in the order they happened. Call it once: there is one consumer.
    func edges() -> AsyncThrowingStream<EdgeEvent, any Error>

    /// Hands every edge the lines already hold (the kernel's queue behind a descriptor not yet read) to ``edges()``
    /// now, and returns the ``EdgeEvent/sequence`` of the last edge handed over so far; nil when the backend holds
    /// no queue of its own. ``InputService`` calls it before a deadline decides anything, so a deadline that fires
    /// late (the process was descheduled) never overtakes edges that had already happened.
    func deliverQueued() -> UInt64?

    /// Stops watching and releases the lines; a pending ``edges()`` iteration finishes. Idempotent.
    func close()
}

extension InputLines {
    /// No queue of its own: every edge is in ``edges()`` as soon as it happens.
    public func deliverQueued() -> UInt64? { nil }
}

/// A board's output lines (status LED, buzzer): set on or off. Patterns are rendered by the ``IndicatorDriver``.
public protocol OutputLines: Sendable {
    /// The lines, in board order.
    var specs: [OutputLineSpec] { get }

    /// Turns output `index` on (its `activeLevel`) or off.
    func set(_ index: Int, on: Bool) throws

    /// Turns every output off and releases the lines. Idempotent.
    func close()
}

extension OutputLines {
    /// The index of the first output with `role`, if the board has one.
    public func index(of role: OutputRole) -> Int? { specs.firstIndex { $0.role == role } }
}

/// Outputs some of which play a periodic pattern by themselves once handed it — a kernel LED-class LED's
/// `pattern` or `timer` trigger blinks with no user-space wakeup at all — so the indicator need not wake at every
/// step of the armed heartbeat. Outputs that cannot (a GPIO line) are still switched step by step with ``set(_:on:)``.
public protocol PatternOutputs: OutputLines {
    /// Whether output `index` can play `pattern` (periodic: see `IndicatorPattern.isPeriodic`) by itself.
    func canPlay(_ pattern: IndicatorPattern, on index: Int) -> Bool

    /// Plays `pattern` on output `index` from its first step, until the next ``play(_:on:)`` or `set(_:on:)`.
    func play(_ pattern: IndicatorPattern, on index: Int) throws
}
