/// What the box shows the person who pressed the button: the alert lifecycle, on the LED and buzzer.
public enum IndicatorState: String, Sendable, Equatable, CaseIterable {
    /// Nothing to report; the box is armed. A slow heartbeat blink shows it is alive.
    case armed
    /// The alert is committed to storage: it will be delivered even if the box loses power now.
    case stored
    /// The control room has the alert.
    case sent
    /// The control room acknowledged it: help is on the way.
    case helpOnTheWay = "help-on-the-way"
    /// A responder has been dispatched to the alert.
    case helpDispatched = "help-dispatched"
    /// A responder is on scene.
    case helpOnScene = "help-on-scene"
    /// The control room cleared the alert. Shown briefly, then back to `armed`.
    case cleared
    /// An input is faulty (cut loop, stuck button) or the box cannot deliver.
    case fault
    /// An alert could not be committed: the card is full. It is held in memory and committed as soon as space
    /// returns (then `stored`); a power cut now would lose it.
    case notStoredFull = "not-stored-full"
}

/// One step of a pattern: the output on or off for a while.
public struct IndicatorStep: Sendable, Equatable {
    public var on: Bool
    public var duration: Duration

    public init(_ on: Bool, _ duration: Duration) {
        self.on = on
        self.duration = duration
    }
}

/// A pattern on one output: steps played in order, then repeated or left off.
public struct IndicatorPattern: Sendable, Equatable {
    public var steps: [IndicatorStep]
    /// Loop forever (true) or play once and stay off (false).
    public var repeats: Bool

    public init(_ steps: [IndicatorStep], repeats: Bool) {
        self.steps = steps
        self.repeats = repeats
    }

    /// Off, and nothing scheduled.
    public static let off = IndicatorPattern([], repeats: false)
    /// Steady on.
    public static let on = IndicatorPattern([IndicatorStep(true, .zero)], repeats: false)

    /// One cycle's length (zero for a steady pattern).
    public var period: Duration { steps.reduce(.zero) { $0 + $1.duration } }

    /// Whether it is a steady periodic pattern: it repeats, and its cycle takes time (a blink, not a steady level).
    /// Only such a pattern is handed to an output that plays patterns by itself.
    public var isPeriodic: Bool { repeats && period > .zero }

    /// The level `elapsed` after the pattern started (how an output playing it by itself shows it at any time).
    public func level(after elapsed: Duration) -> Bool {
        guard !steps.isEmpty else { return false }
        var into = elapsed
        if repeats, period > .zero {
            let cycle = period.nanosecondsClamped
            into = .nanoseconds(((into.nanosecondsClamped % cycle) + cycle) % cycle)
        }
        for (index, step) in steps.enumerated() {
            // A zero-length final step is "stay like this".
            if into < step.duration || (index == steps.count - 1 && step.duration == .zero) { return step.on }
            into -= step.duration
        }
        return false
    }

    /// Blinks `count` times (`on` then `off`), then stays off for `pause`; with `repeats`, starts over.
    public static func blinks(
        _ count: Int, on: Duration, off: Duration, pause: Duration = .zero, repeats: Bool
    ) -> IndicatorPattern {
        var steps: [IndicatorStep] = []
        for _ in 0..<count { steps += [IndicatorStep(true, on), IndicatorStep(false, off)] }
        if pause > .zero { steps.append(IndicatorStep(false, pause)) }
        return IndicatorPattern(steps, repeats: repeats)
    }
}

/// The table of what each state shows: the one place patterns are defined (documented in docs/inputs.md).
public enum IndicatorPatterns {
    /// The LED and buzzer patterns for a state, and the state that follows when a one-shot state ends.
    public struct Entry: Sendable, Equatable {
        public var led: IndicatorPattern
        public var buzzer: IndicatorPattern
        /// For a state shown only for a while: how long, and what follows.
        public var lasts: Duration?
        public var then: IndicatorState?
    }

    /// The pattern table.
    ///
    /// | state | LED | buzzer |
    /// |---|---|---|
    /// | armed | 100 ms flash every 3 s (heartbeat) | silent |
    /// | stored | fast blink 200/200 ms | one 100 ms chirp |
    /// | sent | steady on | two 100 ms chirps |
    /// | help on the way | slow blink 1 s on / 1 s off | one 600 ms tone |
    /// | responder dispatched | two slow blinks (400 ms) + 1.2 s pause | two 300 ms tones |
    /// | responder on scene | long on (1.8 s), short off (200 ms) | one 1 s tone |
    /// | cleared | 3 quick blinks, then armed after 3 s | one 50 ms chirp |
    /// | fault | triple flash + 1.5 s pause | 3 chirps, once |
    /// | not stored — full | long flash (600 ms), two short ones, 1.2 s pause | one 400 ms tone, two chirps |
    public static func entry(for state: IndicatorState) -> Entry {
        switch state {
        case .armed:
            Entry(led: .blinks(1, on: .milliseconds(100), off: .milliseconds(2900), repeats: true), buzzer: .off)
        case .stored:
            Entry(
                led: .blinks(1, on: .milliseconds(200), off: .milliseconds(200), repeats: true),
                buzzer: .blinks(1, on: .milliseconds(100), off: .zero, repeats: false))
        case .sent:
            Entry(led: .on, buzzer: .blinks(2, on: .milliseconds(100), off: .milliseconds(100), repeats: false))
        case .helpOnTheWay:
            Entry(
                led: .blinks(1, on: .seconds(1), off: .seconds(1), repeats: true),
                buzzer: .blinks(1, on: .milliseconds(600), off: .zero, repeats: false))
        case .helpDispatched:
            Entry(
                led: .blinks(
                    2, on: .milliseconds(400), off: .milliseconds(400), pause: .milliseconds(1200), repeats: true),
                buzzer: .blinks(2, on: .milliseconds(300), off: .milliseconds(200), repeats: false))
        case .helpOnScene:
            Entry(
                led: .blinks(1, on: .milliseconds(1800), off: .milliseconds(200), repeats: true),
                buzzer: .blinks(1, on: .seconds(1), off: .zero, repeats: false))
        case .cleared:
            Entry(
                led: .blinks(3, on: .milliseconds(100), off: .milliseconds(100), repeats: false),
                buzzer: .blinks(1, on: .milliseconds(50), off: .zero, repeats: false), lasts: .seconds(3),
                then: .armed)
        case .fault:
            Entry(
                led: .blinks(
                    3, on: .milliseconds(100), off: .milliseconds(100), pause: .milliseconds(1500), repeats: true),
                buzzer: .blinks(3, on: .milliseconds(80), off: .milliseconds(120), repeats: false))
        case .notStoredFull:
            Entry(
                led: IndicatorPattern(
                    [
                        IndicatorStep(true, .milliseconds(600)), IndicatorStep(false, .milliseconds(200)),
                        IndicatorStep(true, .milliseconds(100)), IndicatorStep(false, .milliseconds(200)),
                        IndicatorStep(true, .milliseconds(100)), IndicatorStep(false, .milliseconds(1200)),
                    ], repeats: true),
                buzzer: IndicatorPattern(
                    [
                        IndicatorStep(true, .milliseconds(400)), IndicatorStep(false, .milliseconds(150)),
                        IndicatorStep(true, .milliseconds(80)), IndicatorStep(false, .milliseconds(120)),
                        IndicatorStep(true, .milliseconds(80)), IndicatorStep(false, .zero),
                    ], repeats: false))
        }
    }
}

/// A change the indicator asks of an output.
public struct IndicatorChange: Sendable, Equatable, CustomStringConvertible {
    public var output: OutputRole
    public var on: Bool
    public var at: MonotonicInstant

    public init(_ output: OutputRole, on: Bool, at: MonotonicInstant) {
        self.output = output
        self.on = on
        self.at = at
    }

    public var description: String { "\(at) \(output.rawValue) \(on ? "on" : "off")" }
}

/// A periodic pattern handed to an output that plays it by itself (a kernel LED-class LED's trigger): the
/// indicator schedules nothing for that output until its next change.
public struct IndicatorHandoff: Sendable, Equatable, CustomStringConvertible {
    public var output: OutputRole
    public var pattern: IndicatorPattern
    public var at: MonotonicInstant

    public init(_ output: OutputRole, pattern: IndicatorPattern, at: MonotonicInstant) {
        self.output = output
        self.pattern = pattern
        self.at = at
    }

    public var description: String { "\(at) \(output.rawValue) plays \(pattern.steps.count) steps" }
}

/// Renders an ``IndicatorState`` onto the LED and buzzer over time, as a pure state machine.
///
/// ``show(_:at:)`` switches state; ``advance(to:)`` plays the patterns up to an instant. Both return the output
/// changes (only real changes: an output already on is not switched on again) and the next deadline, which the
/// shell sleeps until on its injected clock. Nothing is scheduled while every output is steady, or plays its
/// periodic pattern by itself: an output the `playsItself` predicate accepts a pattern for is handed the pattern
/// once (``Output/handoffs``) instead of being switched at every step.
public struct Indicator: Sendable {
    /// What one call produced.
    public struct Output: Sendable, Equatable {
        public var changes: [IndicatorChange]
        /// Periodic patterns handed to outputs that play them by themselves.
        public var handoffs: [IndicatorHandoff] = []
        public var nextDeadline: MonotonicInstant?
    }

    struct Track: Sendable {
        var output: OutputRole
        var pattern: IndicatorPattern = .off
        var index = 0
        /// When the current step ends; nil when the output is steady.
        var stepEnds: MonotonicInstant?
        /// The level last set; nil while the output plays its pattern by itself.
        var value: Bool? = false

        mutating func start(
            _ pattern: IndicatorPattern, at now: MonotonicInstant, playsItself: Bool,
            into changes: inout [IndicatorChange], handoffs: inout [IndicatorHandoff]
        ) {
            self.pattern = pattern
            index = 0
            stepEnds = nil
            if playsItself {
                value = nil
                handoffs.append(IndicatorHandoff(output, pattern: pattern, at: now))
                return
            }
            enter(at: now, into: &changes)
        }

        /// Applies step `index` starting at `now`, or ends the pattern.
        mutating func enter(at now: MonotonicInstant, into changes: inout [IndicatorChange]) {
            if index >= pattern.steps.count {
                if pattern.repeats, !pattern.steps.isEmpty {
                    index = 0
                } else {
                    stepEnds = nil
                    set(false, at: now, into: &changes)
                    return
                }
            }
            let step = pattern.steps[index]
            set(step.on, at: now, into: &changes)
            // A zero-length final step is "stay like this".
            stepEnds =
                step.duration == .zero && index == pattern.steps.count - 1 ? nil : now.advanced(by: step.duration)
        }

        mutating func set(_ on: Bool, at now: MonotonicInstant, into changes: inout [IndicatorChange]) {
            if on != value {
                value = on
                changes.append(IndicatorChange(output, on: on, at: now))
            }
        }

        mutating func advance(to now: MonotonicInstant, into changes: inout [IndicatorChange]) {
            while let end = stepEnds, end <= now {
                index += 1
                enter(at: end, into: &changes)
            }
        }
    }

    public private(set) var state: IndicatorState
    var led = Track(output: .statusLED)
    var buzzer = Track(output: .buzzer)
    var stateEnds: MonotonicInstant?
    /// Whether an output plays a periodic pattern by itself.
    let playsItself: @Sendable (OutputRole, IndicatorPattern) -> Bool

    /// An indicator that is dark until the first ``show(_:at:)``. `playsItself` says which outputs can be handed
    /// which periodic patterns (by default none: every step is a change the shell makes).
    public init(playsItself: @escaping @Sendable (OutputRole, IndicatorPattern) -> Bool = { _, _ in false }) {
        state = .armed
        self.playsItself = playsItself
    }

    /// Switches to `state` at `now` and starts its patterns from their first step.
    public mutating func show(_ state: IndicatorState, at now: MonotonicInstant) -> Output {
        var output = Output(changes: [])
        enter(state, at: now, into: &output)
        output.nextDeadline = nextDeadline
        return output
    }

    /// Plays the patterns up to `now`.
    public mutating func advance(to now: MonotonicInstant) -> Output {
        var output = Output(changes: [])
        while true {
            let horizon = min(now, stateEnds ?? now)
            led.advance(to: horizon, into: &output.changes)
            buzzer.advance(to: horizon, into: &output.changes)
            guard let ends = stateEnds, ends <= now, let next = IndicatorPatterns.entry(for: state).then else { break }
            enter(next, at: ends, into: &output)
        }
        if output.changes.count > 1 { output.changes.sort { $0.at < $1.at } }
        output.nextDeadline = nextDeadline
        return output
    }

    /// The next instant at which an output changes or a state ends.
    public var nextDeadline: MonotonicInstant? { [led.stepEnds, buzzer.stepEnds, stateEnds].compactMap { $0 }.min() }

    private mutating func enter(_ state: IndicatorState, at now: MonotonicInstant, into output: inout Output) {
        self.state = state
        let entry = IndicatorPatterns.entry(for: state)
        led.start(
            entry.led, at: now, playsItself: entry.led.isPeriodic && playsItself(.statusLED, entry.led),
            into: &output.changes, handoffs: &output.handoffs)
        buzzer.start(
            entry.buzzer, at: now, playsItself: entry.buzzer.isPeriodic && playsItself(.buzzer, entry.buzzer),
            into: &output.changes, handoffs: &output.handoffs)
        stateEnds = entry.lasts.map { now.advanced(by: $0) }
    }
}
