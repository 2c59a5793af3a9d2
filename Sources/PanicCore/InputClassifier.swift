/// What a classified change on an input line means, in the board's own words.
public enum InputEventKind: String, Sendable, Equatable, CaseIterable {
    /// An emergency button was pressed, or its normally-closed loop opened (a press and a cut look alike at first).
    case emergency
    /// An emergency button was let go (or its loop closed again before it counted as cut).
    case emergencyReleased = "emergency-released"
    /// The non-emergency assistance button was pressed.
    case help
    /// The assistance button was let go.
    case helpReleased = "help-released"
    /// A normally-closed button loop stayed open past `wireCutAfter`: also a tamper (the wire is probably cut).
    case wireCut = "wire-cut"
    /// A loop reported as cut closed again.
    case wireRestored = "wire-restored"
    /// A normally-open button stayed closed past `stuckAfter`: a fault, not a stream of alerts.
    case stuck
    /// A button reported as stuck came free.
    case stuckCleared = "stuck-cleared"
    /// The enclosure switch says the box was opened: a tamper.
    case enclosureOpened = "enclosure-opened"
    /// The enclosure is shut again.
    case enclosureClosed = "enclosure-closed"
    /// Main power went away.
    case powerLost = "power-lost"
    /// Main power came back.
    case powerRestored = "power-restored"
    /// The vehicle's ignition was switched on.
    case ignitionOn = "ignition-on"
    /// The vehicle's ignition was switched off.
    case ignitionOff = "ignition-off"

    /// Whether the event asks for help (an alert record), as opposed to a tamper, fault or sense change.
    public var isAlert: Bool { self == .emergency || self == .help }
    /// Whether the control room must hear of it as a tamper.
    public var isTamper: Bool { self == .wireCut || self == .enclosureOpened }
    /// Whether it marks the box as faulty (an input that can no longer raise an alert).
    public var isFault: Bool { self == .wireCut || self == .stuck }
}

/// One classified input event: which line, what it means, and when.
public struct InputEvent: Sendable, Equatable, CustomStringConvertible {
    /// Index of the line in the board's `inputs`.
    public var line: Int
    /// The line's name in the board file.
    public var name: String
    public var role: InputRole
    public var kind: InputEventKind
    /// When the contact settled into the state the event reports (the last bounce edge's time).
    public var since: MonotonicInstant
    /// When the event became true: `since` plus the hold time (or the wire-cut/stuck delay).
    public var at: MonotonicInstant

    public init(
        line: Int, name: String, role: InputRole, kind: InputEventKind, since: MonotonicInstant,
        at: MonotonicInstant
    ) {
        self.line = line
        self.name = name
        self.role = role
        self.kind = kind
        self.since = since
        self.at = at
    }

    public var description: String { "\(at) \(role.rawValue) \(name) \(kind.rawValue)" }
}

/// Turns raw contact changes into classified input events: debounce, hold, NC wire-cut and NO stuck detection.
///
/// A pure state machine in the manner of hummingbird's connection state machines: every method takes the time
/// and returns what happened plus the next instant at which something may happen. The shell that owns the
/// lines calls ``edge(line:closed:at:)`` for each edge and ``advance(to:)`` when the deadline comes; it keeps no
/// timers of its own beyond that one deadline.
///
/// Per line, a change goes through three gates:
/// 1. **debounce**: the contact must stay put for `debounce` after its last edge, so any storm of bounce edges
///    collapses into one change (the settled state dates from the last edge);
/// 2. **hold**: the settled state must then last for `hold` before it counts (both directions), so a brush of
///    a sleeve or a glitch raises nothing;
/// 3. for buttons, a press that is still held after `wireCutAfter` (normally-closed: the loop is open, probably
///    cut) or `stuckAfter` (normally-open: the button is stuck) is reported once more as a fault, and the
///    eventual release is reported as the fault clearing.
///
/// What "asserted" means per role: a button is pressed (NO closed, NC open); the enclosure is open (its switch
/// out of its rest state); power is present and ignition is on when their sense contact conducts (wired
/// normally-open) or stops conducting (wired normally-closed).
public struct InputClassifier: Sendable {
    /// What one call produced.
    public struct Output: Sendable, Equatable {
        /// Events in time order.
        public var events: [InputEvent]
        /// When the shell must call ``InputClassifier/advance(to:)`` next; `nil` when nothing is pending.
        public var nextDeadline: MonotonicInstant?

        public init(events: [InputEvent], nextDeadline: MonotonicInstant?) {
            self.events = events
            self.nextDeadline = nextDeadline
        }
    }

    struct Line: Sendable {
        var spec: InputLineSpec
        /// The contact as the last edge left it.
        var raw: Bool
        var rawSince: MonotonicInstant
        /// The contact after debounce.
        var settled: Bool
        var settledSince: MonotonicInstant
        /// The contact state last reported (after hold).
        var accepted: Bool
        var acceptedSince: MonotonicInstant
        /// The wire-cut or stuck fault has been reported for the current press.
        var faulted = false

        func asserted(closed: Bool) -> Bool { spec.contact == .normallyOpen ? closed : !closed }

        var faultDelay: Duration? {
            guard spec.role.isButton else { return nil }
            return spec.contact == .normallyClosed ? spec.wireCutAfter : spec.stuckAfter
        }

        var deadline: MonotonicInstant? {
            if raw != settled { return rawSince.advanced(by: spec.debounce) }
            if settled != accepted { return settledSince.advanced(by: spec.hold) }
            if asserted(closed: accepted), !faulted, let delay = faultDelay {
                return acceptedSince.advanced(by: delay)
            }
            return nil
        }
    }

    var lines: [Line]
    /// Everything up to this instant has been classified; later edges with earlier timestamps are clamped to it.
    public private(set) var now: MonotonicInstant

    /// Starts classifying `specs` whose contacts are closed as `initiallyClosed` says at `now`.
    ///
    /// States found at start are taken as they are, without hold: no alert is raised for a button that is
    /// already down (it cannot be told from a fault), so it is reported at once as a fault instead: a
    /// normally-closed loop found open is a wire cut, a normally-open button found closed is stuck. An enclosure
    /// found open and power found absent are reported too; ignition is not. ``initialEvents`` holds those.
    public init(specs: [InputLineSpec], initiallyClosed: [Bool], now: MonotonicInstant) {
        precondition(specs.count == initiallyClosed.count, "one initial level per line")
        self.now = now
        lines = zip(specs, initiallyClosed).map { spec, closed in
            Line(
                spec: spec, raw: closed, rawSince: now, settled: closed, settledSince: now, accepted: closed,
                acceptedSince: now)
        }
        var events: [InputEvent] = []
        for index in lines.indices {
            let line = lines[index]
            let asserted = line.asserted(closed: line.accepted)
            let kind: InputEventKind? =
                switch line.spec.role {
                case .emergency, .help:
                    asserted ? (line.spec.contact == .normallyClosed ? .wireCut : .stuck) : nil
                case .tamper: asserted ? .enclosureOpened : nil
                case .power: asserted ? nil : .powerLost
                case .ignition: nil
                }
            if let kind {
                if line.spec.role.isButton { lines[index].faulted = true }
                events.append(
                    InputEvent(
                        line: index, name: line.spec.name, role: line.spec.role, kind: kind, since: now, at: now))
            }
        }
        initialEvents = events
        var starting = events
        for (index, line) in lines.enumerated()
        where line.spec.role == .ignition && line.asserted(closed: line.accepted) {
            let spec = line.spec
            starting.append(
                InputEvent(line: index, name: spec.name, role: spec.role, kind: .ignitionOn, since: now, at: now))
        }
        startingState = starting.sorted { $0.line < $1.line }
    }

    /// Faults and tampers found when classification started (see ``init(specs:initiallyClosed:now:)``).
    public let initialEvents: [InputEvent]

    /// Everything a `boot` record reports of the inputs at start: ``initialEvents`` and an ignition found on, in
    /// board order. Ignition found on is state, not an event: it is not in ``initialEvents``.
    public let startingState: [InputEvent]

    /// The line specifications, in board order.
    public var specs: [InputLineSpec] { lines.map(\.spec) }

    /// Whether line `index` currently counts as asserted (pressed, open enclosure, power present, ignition on).
    public func isAsserted(_ index: Int) -> Bool { lines[index].asserted(closed: lines[index].accepted) }

    /// Whether line `index`'s contact is closed as the last edge said (before debouncing): what the hardware should
    /// read now, unless edges were lost on the way.
    public func contactClosed(_ index: Int) -> Bool { lines[index].raw }

    /// The earliest pending deadline over all lines.
    public var nextDeadline: MonotonicInstant? { lines.lazy.compactMap(\.deadline).min() }

    /// Records an edge: line `line`'s contact is now `closed` (conducting), as of `at`.
    ///
    /// Deadlines that fell due before `at` are handled first, so an edge read late never reorders events.
    public mutating func edge(line index: Int, closed: Bool, at: MonotonicInstant) -> Output {
        var events = fire(until: at)
        let at = max(at, now)
        now = at
        lines[index].raw = closed
        lines[index].rawSince = at
        // A change back to the settled state inside the debounce window cancels the pending change; a change
        // away from it restarts the window. Both are "the contact moved at `at`".
        events.append(contentsOf: fire(until: at))
        return Output(events: events, nextDeadline: nextDeadline)
    }

    /// Moves time to `now`, reporting everything whose deadline has come.
    public mutating func advance(to now: MonotonicInstant) -> Output {
        let events = fire(until: now)
        return Output(events: events, nextDeadline: nextDeadline)
    }

    private mutating func fire(until limit: MonotonicInstant) -> [InputEvent] {
        var events: [InputEvent] = []
        for index in lines.indices {
            while let deadline = lines[index].deadline, deadline <= limit {
                if let event = step(index, at: deadline) { events.append(event) }
            }
        }
        if limit > now { now = limit }
        if events.count > 1 { events.sort { ($0.at, $0.line) < ($1.at, $1.line) } }
        return events
    }

    /// Takes line `index` through the gate whose deadline is `at`.
    private mutating func step(_ index: Int, at: MonotonicInstant) -> InputEvent? {
        var line = lines[index]
        defer { lines[index] = line }
        if line.raw != line.settled {
            line.settled = line.raw
            line.settledSince = line.rawSince
            return nil
        }
        if line.settled != line.accepted {
            let wasFaulted = line.faulted
            line.accepted = line.settled
            line.acceptedSince = line.settledSince
            line.faulted = false
            let asserted = line.asserted(closed: line.accepted)
            let kind = Self.kind(for: line.spec, asserted: asserted, wasFaulted: wasFaulted)
            return InputEvent(
                line: index, name: line.spec.name, role: line.spec.role, kind: kind, since: line.settledSince, at: at)
        }
        line.faulted = true
        let kind: InputEventKind = line.spec.contact == .normallyClosed ? .wireCut : .stuck
        return InputEvent(
            line: index, name: line.spec.name, role: line.spec.role, kind: kind, since: line.acceptedSince, at: at)
    }

    static func kind(for spec: InputLineSpec, asserted: Bool, wasFaulted: Bool) -> InputEventKind {
        switch spec.role {
        case .emergency, .help:
            if asserted { return spec.role == .emergency ? .emergency : .help }
            if wasFaulted { return spec.contact == .normallyClosed ? .wireRestored : .stuckCleared }
            return spec.role == .emergency ? .emergencyReleased : .helpReleased
        case .tamper: return asserted ? .enclosureOpened : .enclosureClosed
        case .power: return asserted ? .powerRestored : .powerLost
        case .ignition: return asserted ? .ignitionOn : .ignitionOff
        }
    }
}
