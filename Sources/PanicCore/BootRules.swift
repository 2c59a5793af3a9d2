/// How the previous run of the box ended, as it marked it: `running` from its start, `stopped` at a clean
/// shutdown. A run that ends without writing `stopped` (a power cut, a SIGKILL, a watchdog reset) leaves `running`.
public struct RunMark: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case running
        case stopped
    }

    public var state: State
    /// Wall time of the mark, UTC milliseconds.
    public var timeMilliseconds: Int64

    public init(state: State, timeMilliseconds: Int64) {
        self.state = state
        self.timeMilliseconds = timeMilliseconds
    }

    /// The mark as the outbox keeps it (`running:1733540000000`).
    public var text: String { "\(state.rawValue):\(timeMilliseconds)" }

    /// Parses ``text``; nil for anything else.
    public init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let state = State(rawValue: String(parts[0])), let time = Int64(parts[1]) else {
            return nil
        }
        self.init(state: state, timeMilliseconds: time)
    }
}

/// The rules of a box's start, pure: why the previous run ended, how long the box was down, and which of the
/// input states found at start are faults carried over from before the restart (reported in the `boot` record
/// only), which are new (they raise their alerts as any fault does) and which faults known before the restart
/// ended while the box was off (their restore records are made).
public enum BootRules {
    /// Why the previous run ended.
    /// - Parameters:
    ///   - mark: the previous run's mark, nil when there is none.
    ///   - outboxNew: the outbox holds no record at all (a first start).
    ///   - watchdogReset: the hardware watchdog (or systemd) says the last reset was its own.
    public static func reason(mark: RunMark?, outboxNew: Bool, watchdogReset: Bool) -> BootReason {
        guard let mark else { return outboxNew ? .firstStart : .unknown }
        switch mark.state {
        case .stopped: return .cleanRestart
        case .running: return watchdogReset ? .watchdog : .powerCut
        }
    }

    /// How long the box was down: from the last moment the previous run is known to have been alive (its last
    /// record, its clean-stop mark, its last saved fix) to `now`; nil when nothing is known or the wall clock is
    /// behind it (a box without an RTC that has not yet set its clock).
    public static func downtime(lastAlive: [Int64?], now: Int64) -> Int64? {
        guard let last = lastAlive.compactMap({ $0 }).max(), now >= last else { return nil }
        return now - last
    }

    /// What the input states found at start mean, split by the persisted state of the previous run.
    public struct Start: Sendable, Equatable {
        /// Every input found in a fault or alert state, in board order (the boot record's `found`).
        public var found: [FoundInput]
        /// Found states that are new since the previous run: handled as the events they are (a tamper alert).
        public var new: [InputEvent]
        /// Found states the previous run already knew: state only, no new record.
        public var carried: [InputEvent]
        /// Faults the previous run knew that are gone now (ended while the box was off): their restore events.
        public var ended: [InputEvent]
    }

    /// Splits `starting` (the classifier's ``InputClassifier/startingState``) against `known` (the engine's
    /// persisted state from the previous run).
    ///
    /// A wire found cut or a button found stuck that `known.inputFaults` has, an enclosure found open that
    /// `known.openEnclosures` has, power found absent that `known.powerLost` has: carried. Any other found fault
    /// is new. A fault in `known` whose input is found fine ended. Ignition found on is state only, never an event.
    public static func start(
        starting: [InputEvent], known: AlertEngine.PersistentState, specs: [InputLineSpec], at now: MonotonicInstant
    ) -> Start {
        var result = Start(found: [], new: [], carried: [], ended: [])
        var present: Set<String> = []
        for event in starting {
            let condition: InputCondition
            let wasKnown: Bool
            switch event.kind {
            case .wireCut:
                condition = .wireCut
                wasKnown = known.inputFaults.contains(event.name)
            case .stuck:
                condition = .stuck
                wasKnown = known.inputFaults.contains(event.name)
            case .enclosureOpened:
                condition = .enclosureOpen
                wasKnown = known.openEnclosures.contains(event.name)
            case .powerLost:
                condition = .powerLost
                wasKnown = known.powerLost.contains(event.name)
            case .ignitionOn:
                result.found.append(FoundInput(input: event.name, state: .ignitionOn))
                continue
            default:
                continue
            }
            present.insert(event.name)
            result.found.append(FoundInput(input: event.name, state: condition))
            if wasKnown { result.carried.append(event) } else { result.new.append(event) }
        }
        for (index, spec) in specs.enumerated() where !present.contains(spec.name) {
            let kind: InputEventKind?
            switch spec.role {
            case .emergency, .help:
                kind =
                    known.inputFaults.contains(spec.name)
                    ? (spec.contact == .normallyClosed ? .wireRestored : .stuckCleared) : nil
            case .tamper: kind = known.openEnclosures.contains(spec.name) ? .enclosureClosed : nil
            case .power: kind = known.powerLost.contains(spec.name) ? .powerRestored : nil
            case .ignition: kind = nil
            }
            if let kind {
                result.ended.append(
                    InputEvent(line: index, name: spec.name, role: spec.role, kind: kind, since: now, at: now))
            }
        }
        return result
    }
}
