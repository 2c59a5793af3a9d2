/// The box's alert logic: turns classified inputs, alert-state changes from the control room and the passing
/// of time into records — emergency latched until the control room clears it, help requests, tamper and power
/// records, positions at the normal or the emergency rate, and periodic health.
///
/// Pure, in the manner of hummingbird's state machines: methods take the time and return records to append;
/// ``nextDeadline`` says when ``tick(_:)`` is next owed. The shell appends the drafts to the outbox (which
/// signs and commits them) and drives the indicator from the alert lifecycle.
public struct AlertEngine: Sendable {
    /// How often records are made, and the booth privacy switch.
    public struct Configuration: Sendable, Equatable {
        public var positionInterval: Duration
        public var emergencyPositionInterval: Duration
        /// How long the faster emergency rate continues after an alert (emergency or help) is cleared; not in
        /// privacy mode, where tracking stops with the last open alert.
        public var emergencyTrackingAfter: Duration
        public var healthInterval: Duration
        /// Booths: no position record outside an alert. While an alert (emergency or help) is open the box tracks
        /// at the emergency rate as anywhere else; alerts always carry their fix.
        public var privacyMode: Bool

        public init(
            positionInterval: Duration = .seconds(60), emergencyPositionInterval: Duration = .seconds(10),
            emergencyTrackingAfter: Duration = .seconds(1800), healthInterval: Duration = .seconds(300),
            privacyMode: Bool = false
        ) {
            self.positionInterval = positionInterval
            self.emergencyPositionInterval = emergencyPositionInterval
            self.emergencyTrackingAfter = emergencyTrackingAfter
            self.healthInterval = healthInterval
            self.privacyMode = privacyMode
        }
    }

    /// What must survive a power cut; the shell writes it durably whenever ``persistentState`` changes.
    public struct PersistentState: Sendable, Equatable, Codable {
        /// The open (latched) emergency's record id.
        public var openEmergency: String?
        /// Open help requests' record ids.
        public var openHelp: [String]
        /// Input names currently at fault (cut loops, stuck buttons).
        public var inputFaults: [String]
        /// Enclosure inputs currently open (a tamper already reported).
        public var openEnclosures: [String]
        /// Power inputs currently without power (a power-lost record already made).
        public var powerLost: [String]

        public init(
            openEmergency: String? = nil, openHelp: [String] = [], inputFaults: [String] = [],
            openEnclosures: [String] = [], powerLost: [String] = []
        ) {
            self.openEmergency = openEmergency
            self.openHelp = openHelp
            self.inputFaults = inputFaults
            self.openEnclosures = openEnclosures
            self.powerLost = powerLost
        }

        enum CodingKeys: String, CodingKey {
            case openEmergency, openHelp, inputFaults, openEnclosures, powerLost
        }

        /// Files written before the enclosure and power states were kept decode with both empty (a fault found at
        /// the next start is then reported as new, as before).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            openEmergency = try container.decodeIfPresent(String.self, forKey: .openEmergency)
            openHelp = try container.decode([String].self, forKey: .openHelp)
            inputFaults = try container.decode([String].self, forKey: .inputFaults)
            openEnclosures = try container.decodeIfPresent([String].self, forKey: .openEnclosures) ?? []
            powerLost = try container.decodeIfPresent([String].self, forKey: .powerLost) ?? []
        }
    }

    /// What the engine knows of "now" when it is called: the monotonic time for its timers, the wall time and its
    /// source for the records, the last fix, and the latest telemetry.
    public struct Moment: Sendable {
        public var now: MonotonicInstant
        public var time: RecordTime
        public var timeSource: TimeSource
        public var fix: RecordFix?
        /// The latest radio, supply and ignition readings: every record drafted at this moment carries them.
        public var telemetry: Telemetry?

        public init(
            now: MonotonicInstant, time: RecordTime, timeSource: TimeSource, fix: RecordFix?,
            telemetry: Telemetry? = nil
        ) {
            self.now = now
            self.time = time
            self.timeSource = timeSource
            self.fix = fix
            self.telemetry = telemetry
        }
    }

    public let configuration: Configuration
    public private(set) var persistentState: PersistentState
    private var fastTrackingUntil: MonotonicInstant?
    private var nextPosition: MonotonicInstant
    private var nextHealth: MonotonicInstant
    private var makeID: @Sendable () -> String

    /// Starts the engine, restoring what a previous run left open. A restored open emergency keeps the fast
    /// position rate, and the first position and health records are due at once.
    public init(
        configuration: Configuration, restoring state: PersistentState = .init(), now: MonotonicInstant,
        makeID: @escaping @Sendable () -> String
    ) {
        self.configuration = configuration
        persistentState = state
        nextPosition = now
        nextHealth = now
        self.makeID = makeID
    }

    /// Whether an emergency is latched open.
    public var emergencyOpen: Bool { persistentState.openEmergency != nil }

    /// Whether any alert (an emergency or a help request) is open: the box tracks at the emergency rate.
    public var alertOpen: Bool { emergencyOpen || !persistentState.openHelp.isEmpty }

    /// The position interval in force at `now`.
    public func positionInterval(at now: MonotonicInstant) -> Duration {
        if alertOpen { return configuration.emergencyPositionInterval }
        if let until = fastTrackingUntil, now < until { return configuration.emergencyPositionInterval }
        return configuration.positionInterval
    }

    /// Whether position records are made now: always, except in privacy mode outside an alert.
    public var tracking: Bool { !configuration.privacyMode || alertOpen }

    /// When ``tick(_:health:)`` is next owed.
    public var nextDeadline: MonotonicInstant {
        tracking ? min(nextPosition, nextHealth) : nextHealth
    }

    /// A classified input event.
    public mutating func handle(_ event: InputEvent, at moment: Moment, health: () -> HealthReport) -> [RecordDraft] {
        switch event.kind {
        case .emergency:
            // Latched: while an emergency is open, more presses (or a second button) add nothing; the control
            // room already has the alert and only it can clear it.
            guard persistentState.openEmergency == nil else { return [] }
            let draft = draft(.emergency(input: event.name), moment)
            startFastTracking(moment.now)
            persistentState.openEmergency = draft.id
            return [draft]
        case .help:
            guard persistentState.openHelp.isEmpty else { return [] }
            let draft = draft(.help(input: event.name), moment)
            startFastTracking(moment.now)
            persistentState.openHelp.append(draft.id)
            return [draft]
        case .wireCut:
            setFault(event.name, true)
            return [draft(.tamper(reason: .wireCut, input: event.name), moment)]
        case .enclosureOpened:
            Self.set(&persistentState.openEnclosures, event.name, true)
            return [draft(.tamper(reason: .enclosure, input: event.name), moment)]
        case .stuck:
            // A stuck button is a fault, not an alert: the control room learns it from the health record.
            setFault(event.name, true)
            return [healthDraft(moment, health)]
        case .wireRestored:
            setFault(event.name, false)
            return [draft(.restored(reason: .wireCut, input: event.name), moment), healthDraft(moment, health)]
        case .stuckCleared:
            setFault(event.name, false)
            return [healthDraft(moment, health)]
        case .enclosureClosed:
            Self.set(&persistentState.openEnclosures, event.name, false)
            return [draft(.restored(reason: .enclosure, input: event.name), moment)]
        case .powerLost:
            Self.set(&persistentState.powerLost, event.name, true)
            return [draft(.power(state: .lost, input: event.name), moment)]
        case .powerRestored:
            Self.set(&persistentState.powerLost, event.name, false)
            return [draft(.power(state: .restored, input: event.name), moment)]
        case .ignitionOn:
            return [draft(.ignition(state: .on, input: event.name), moment)]
        case .ignitionOff:
            return [draft(.ignition(state: .off, input: event.name), moment)]
        case .emergencyReleased, .helpReleased:
            return []
        }
    }

    /// The box has started: the `boot` record (why the previous run ended, how long the box was down, every input
    /// found at fault), then the records of what is new since the previous run: a fault that appeared while the
    /// box was off raises its alert; one the previous run already reported is state in the boot record only; one
    /// that ended while the box was off gets its restore record. See ``BootRules/start(starting:known:specs:at:)``.
    public mutating func boot(
        reason: BootReason, downMilliseconds: Int64?, starting: [InputEvent], specs: [InputLineSpec],
        at moment: Moment, health: () -> HealthReport
    ) -> [RecordDraft] {
        let start = BootRules.start(starting: starting, known: persistentState, specs: specs, at: moment.now)
        var drafts = [
            draft(.boot(BootReport(reason: reason, downMilliseconds: downMilliseconds, found: start.found)), moment)
        ]
        for event in start.new + start.ended {
            drafts += handle(event, at: moment, health: health)
        }
        return drafts
    }

    /// An alert's state changed (from the uplink's lifecycle): a cleared emergency unlatches, a cleared help
    /// request closes; either starts the tracking-after period once no alert is open.
    public mutating func alertStateChanged(alert: String, to state: AlertState, at now: MonotonicInstant) {
        guard state == .cleared else { return }
        let wasOpen = persistentState.openEmergency == alert || persistentState.openHelp.contains(alert)
        if persistentState.openEmergency == alert { persistentState.openEmergency = nil }
        persistentState.openHelp.removeAll { $0 == alert }
        if wasOpen, !alertOpen { fastTrackingUntil = now.advanced(by: configuration.emergencyTrackingAfter) }
    }

    /// An alert opens at `now`: positions follow at the emergency rate from now (in privacy mode, where none were
    /// due, the first one an emergency interval after the alert, which carries the fix itself).
    private mutating func startFastTracking(_ now: MonotonicInstant) {
        let soon = now.advanced(by: configuration.emergencyPositionInterval)
        nextPosition = tracking ? min(nextPosition, soon) : soon
    }

    /// Time has reached ``nextDeadline``: position and health records that are due.
    public mutating func tick(_ moment: Moment, health: () -> HealthReport) -> [RecordDraft] {
        var drafts: [RecordDraft] = []
        if tracking, moment.now >= nextPosition {
            // No fix, no position record: the alert path never waits for a fix, tracking has nothing to say.
            if moment.fix != nil { drafts.append(draft(.position, moment)) }
            nextPosition = moment.now.advanced(by: positionInterval(at: moment.now))
        }
        if moment.now >= nextHealth {
            drafts.append(healthDraft(moment, health))
            nextHealth = moment.now.advanced(by: configuration.healthInterval)
        }
        return drafts
    }

    private mutating func setFault(_ input: String, _ faulty: Bool) {
        Self.set(&persistentState.inputFaults, input, faulty)
    }

    private static func set(_ names: inout [String], _ input: String, _ present: Bool) {
        names.removeAll { $0 == input }
        if present { names.append(input) }
    }

    private func healthDraft(_ moment: Moment, _ health: () -> HealthReport) -> RecordDraft {
        var report = health()
        report.inputFaults = persistentState.inputFaults
        report.fixAgeMilliseconds = moment.fix?.ageMilliseconds
        return draft(.health(report), moment)
    }

    private func draft(_ body: RecordBody, _ moment: Moment) -> RecordDraft {
        // Privacy mode: outside an alert no record says where the booth's user is; alerts (emergency, help,
        // tamper) carry where they happened, and positions are made only while an alert is open.
        let located = body.kind.isAlert || (body.kind == .position && alertOpen)
        let fix = configuration.privacyMode && !located ? nil : moment.fix
        // The cells locate too (to a few hundred metres): kept out where the fix is.
        var telemetry = moment.telemetry
        if configuration.privacyMode, !located, telemetry?.radio != nil {
            telemetry?.radio?.serving = nil
            telemetry?.radio?.neighbours = []
        }
        return RecordDraft(
            id: makeID(), time: moment.time, timeSource: moment.timeSource, fix: fix, body: body,
            telemetry: telemetry)
    }
}
