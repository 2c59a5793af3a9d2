import Foundation
import Logging
import PanicCore
import PanicHardware
import PanicSigning
import PanicStore
import PanicUplink
import ServiceLifecycle
import Synchronization

/// What happened inside the box, for the simulator's timeline and for status displays.
public enum BoxEvent: Sendable, Equatable {
    /// A classified input event.
    case input(InputEvent)
    /// A record was signed and committed to the outbox.
    case stored(id: String, kind: RecordKind, sequence: Int64)
    /// A record could not be committed yet (it waits in memory and is retried).
    case held(id: String, kind: RecordKind)
    /// An alert moved along its lifecycle (stored, sent, acknowledged, cleared).
    case alert(AlertTransition)
    /// The LED and buzzer were asked to show a state.
    case indicator(IndicatorState)
    /// A fault of the box itself was raised or cleared (e.g. `engine-state-unwritable` on a full disk); it is
    /// also in the next health record.
    case fault(String, raised: Bool)
}

/// One panic box: inputs, GNSS, the alert engine, the outbox, the uplink and the indicator, wired together. The
/// same type runs on a board (libgpiod, a serial receiver) and in the simulator (simulated lines, a route).
///
/// `run()` runs every part until cancelled, so it can be a `Service` under swift-service-lifecycle. Nothing
/// starts in `init`.
public final class PanicBox: Service, Sendable {
    /// The hardware and stores a box is built from.
    public struct Parts: Sendable {
        public var inputs: any InputLines
        public var outputs: any OutputLines
        public var gnss: any GNSSFixSource
        public var outbox: Outbox
        public var uplink: Uplink
        /// Where the engine's state is kept across power cuts (an open emergency stays open).
        public var statePath: String
        /// Boot records, the run mark and the last fix kept across restarts (`panicd run` and the simulated box);
        /// nil: none of them (tests of other parts).
        public var restarts: Restarts?
        /// The modem's radio monitor, when the box has a modem (`sms.port`).
        public var radio: (any RadioMonitor)?
        /// The supply monitor, when the board file has a `supply:` section.
        public var supply: (any SupplyMonitor)?
        /// How often radio and supply are read (and at every alert).
        public var telemetryInterval: Duration
        /// The remote configuration's version the box runs (nil: the local file alone), in every health record.
        public var configVersion: Int?
        /// The software version in every health record (the release; the simulator's boxes say what they run).
        public var software: String?

        public init(
            inputs: any InputLines, outputs: any OutputLines, gnss: any GNSSFixSource, outbox: Outbox,
            uplink: Uplink, statePath: String, restarts: Restarts? = nil, radio: (any RadioMonitor)? = nil,
            supply: (any SupplyMonitor)? = nil, telemetryInterval: Duration = .seconds(60), configVersion: Int? = nil,
            software: String? = PanicBridgeVersion.current
        ) {
            self.configVersion = configVersion
            self.software = software
            self.radio = radio
            self.supply = supply
            self.telemetryInterval = telemetryInterval
            self.inputs = inputs
            self.outputs = outputs
            self.gnss = gnss
            self.outbox = outbox
            self.uplink = uplink
            self.statePath = statePath
            self.restarts = restarts
        }
    }

    /// How a box keeps track of its restarts (docs/daemon.md → restarts).
    public struct Restarts: Sendable {
        /// Where the last fix is kept (``LastFixFile``).
        public var fixPath: String
        /// Whether the watchdog reset the board (asked once, at start, when the previous run left no clean mark).
        public var watchdogReset: @Sendable () -> Bool

        public init(
            fixPath: String, watchdogReset: @escaping @Sendable () -> Bool = { Watchdog.lastResetWasWatchdog() }
        ) {
            self.fixPath = fixPath
            self.watchdogReset = watchdogReset
        }
    }

    private enum Work: Sendable {
        /// The inputs' state found at start (``InputService/startingState``).
        case boot([InputEvent])
        case input(InputEvent)
        case alert(AlertTransition)
        case refusal(AlertRefusal)
        case tick(UInt64)
        /// The run's first fix arrived (saved at once: a power cut a minute later must not lose it).
        case firstFix
    }

    public let parts: Parts
    public let inputService: InputService
    public let indicator: IndicatorDriver
    public let fixes: FixKeeper
    /// The latest radio and supply readings, which every record carries.
    public let telemetry: TelemetryKeeper
    /// Everything the box does, in order (unbounded: the consumer is the simulator or a status display).
    public let events: AsyncStream<BoxEvent>
    private let eventSink: AsyncStream<BoxEvent>.Continuation
    private let engine: Mutex<AlertEngine>
    /// What the box shows depends on (every open alert's last known state, input faults, refused alerts).
    private let situation: Mutex<IndicatorPolicy.Situation>
    private let lastShown = Mutex<IndicatorState?>(nil)
    /// The alert-state file: what was last written, and whether a write is owed (it failed and is retried).
    private let saved: Mutex<(contents: EngineStateFile.Contents?, owed: Bool)>
    /// Faults of the box itself for the next health record (e.g. `engine-state-corrupt-moved-aside`).
    private let boxFaults = Mutex<Set<String>>([])
    /// The outbox sequence of each open alert, saved with the engine's state so that after a restart the uplink
    /// can follow them again (their acknowledgements and clearing).
    private let alertSequences: Mutex<[String: Int64]>
    private let clock: any MonotonicClock
    private let logger: Logger
    private let work: AsyncStream<Work>
    private let workSink: AsyncStream<Work>.Continuation
    /// Work posted and not yet done; zero when the engine waits on time alone.
    private let pending = Mutex(0)
    /// What the previous run left (read in `init`, before this run marks the outbox): its mark, and the last
    /// wall time it is known to have been alive.
    private let previousRun: (mark: RunMark?, outboxNew: Bool, lastAlive: [Int64?])
    /// The last fix saved to ``LastFixFile`` and when.
    private let fixSaved = Mutex<(contents: LastFixFile.Contents?, at: MonotonicInstant?)>((nil, nil))

    public init(
        parts: Parts, configuration: AlertEngine.Configuration, clock: any MonotonicClock, logger: Logger,
        systemTime: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.parts = parts
        self.clock = clock
        self.logger = logger
        inputService = InputService(lines: parts.inputs, clock: clock)
        indicator = IndicatorDriver(outputs: parts.outputs, clock: clock)
        fixes = FixKeeper(clock: clock, logger: logger, systemTime: systemTime)
        telemetry = TelemetryKeeper(
            radio: parts.radio, supply: parts.supply, interval: parts.telemetryInterval, clock: clock,
            logger: logger.child("telemetry"))
        var restored: EngineStateFile.Contents?
        var faults: Set<String> = []
        do {
            restored = try EngineStateFile.read(path: parts.statePath)
            if restored == nil, let rebuilt = try EngineStateFile.rebuild(from: parts.outbox) {
                // No file but open alerts in the outbox: the file was lost (deleted, a card swapped). Rebuilt
                // from the outbox and the commands' history, the LED says what is true, not "armed".
                logger.error(
                    "alert-state file missing: open alerts rebuilt from the outbox and the commands' history",
                    metadata: ["path": "\(parts.statePath)", "open": "\(rebuilt.alertSequences.count)"])
                faults.insert("engine-state-lost-rebuilt")
                restored = rebuilt
            }
        } catch {
            // A torn or corrupt file must not stop the panic button: set it aside, say where, and rebuild the
            // open alerts from the outbox, which holds every alert record the box ever committed.
            let aside = EngineStateFile.setAside(path: parts.statePath)
            logger.error(
                "alert-state file unreadable: moved aside, open alerts rebuilt from the outbox",
                metadata: [
                    "path": "\(parts.statePath)", "moved-to": "\(aside ?? "(could not move)")", "error": "\(error)",
                ])
            faults.insert("engine-state-corrupt-moved-aside")
            restored = try EngineStateFile.rebuild(from: parts.outbox)
        }
        if let contents = restored {
            restored = try EngineStateFile.completed(contents, from: parts.outbox, logger: logger)
        }
        engine = Mutex(
            AlertEngine(
                configuration: configuration, restoring: restored?.engine ?? .init(), now: clock.now,
                makeID: { UUID().uuidString.lowercased() }))
        alertSequences = Mutex(restored?.alertSequences ?? [:])
        situation = Mutex(
            IndicatorPolicy.Situation(
                alerts: restored?.knownAlerts ?? [:], inputFault: !(restored?.engine.inputFaults.isEmpty ?? true)))
        saved = Mutex((restored, false))
        // A `cleared` record says where the box is — except in privacy mode, where only alerts do.
        if !configuration.privacyMode {
            let fixes = self.fixes
            parts.uplink.locate { [clock] in fixes.recordFix(at: clock.now) }
        }
        if let restarts = parts.restarts {
            // Unreadable (a corrupt row, an I/O error): the boot record says `unknown`; the box still starts.
            var mark: RunMark?
            var markRead = true
            do { mark = try parts.outbox.runMark() } catch {
                markRead = false
                logger.warning("cannot read the run mark", metadata: ["error": "\(error)"])
            }
            let savedFix = LastFixFile.read(path: restarts.fixPath)
            if let savedFix { fixes.restore(savedFix) }
            fixSaved.withLock { $0 = (savedFix, nil) }
            let newest = (try? parts.outbox.newestRecordTime()) ?? nil
            previousRun = (
                mark, markRead && parts.outbox.lastSequence == 0,
                [mark?.timeMilliseconds, newest, savedFix?.takenMilliseconds]
            )
        } else {
            previousRun = (nil, false, [])
        }
        boxFaults.withLock { $0 = faults }
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (work, workSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        for fault in faults.sorted() { eventSink.yield(.fault(fault, raised: true)) }
    }

    /// Whether the box has work in hand: an input not yet classified, engine work not yet done, or a request in
    /// flight. The virtual-time simulator moves its clock only when the box is idle.
    public var isBusy: Bool { pending.withLock { $0 > 0 } || parts.uplink.isBusy || telemetry.isBusy }

    /// Whether an emergency is latched open.
    public var emergencyOpen: Bool { engine.withLock { $0.emergencyOpen } }

    /// The open alerts (the engine's: an emergency until the control room clears it, help requests) with their
    /// state as the uplink last reported it (`stored` until it reports one), the emergency first.
    public var openAlerts: [BoxStatus.Alert] {
        let open = engine.withLock { $0.persistentState }
        let known = situation.withLock { $0.alerts }
        let ids =
            [open.openEmergency].compactMap { $0 }.map { ($0, RecordKind.emergency) }
            + open.openHelp.map { ($0, RecordKind.help) }
        return ids.map { id, kind in
            BoxStatus.Alert(id: id, kind: kind.rawValue, state: (known[id]?.state ?? .stored).rawValue)
        }
    }

    private func post(_ item: Work) {
        pending.withLock { $0 += 1 }
        workSink.yield(item)
    }

    public func run() async throws {
        let state = engine.withLock { $0.persistentState }
        // After a restart the LED says what was last known: an accepted alert is still help on the way.
        show(IndicatorPolicy.show(situation.withLock { $0 }))
        if let open = state.openEmergency {
            logger.notice("an emergency is still open after restart", metadata: ["alert": "\(open)"])
        }
        // Follow the alerts that were open before the restart again, from their last known state.
        let sequences = alertSequences.withLock { $0 }
        let known = situation.withLock { $0.alerts }
        for (id, kind) in [(state.openEmergency, RecordKind.emergency)] + state.openHelp.map({ ($0, .help) }) {
            if let id, let sequence = sequences[id] {
                parts.uplink.alerts.stored(
                    id: id, kind: kind, sequence: sequence, state: known[id]?.state ?? .stored)
            }
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.inputService.run() }
            group.addTask { try await self.indicator.run() }
            group.addTask {
                try await self.fixes.run(source: self.parts.gnss) {
                    if self.parts.restarts != nil { self.post(.firstFix) }
                }
            }
            group.addTask { await self.telemetry.run() }
            group.addTask { try await self.parts.uplink.run() }
            group.addTask { await self.parts.outbox.runCheckpointer(clock: self.clock) }
            group.addTask {
                var skip = 0
                if self.parts.restarts != nil {
                    // The state found at start goes to the boot record in one piece; the stream begins with it too.
                    await self.inputService.watching()
                    let start = self.inputService.startingState
                    skip = start.initialEventCount
                    self.post(.boot(start.events))
                }
                for await event in self.inputService.events {
                    guard skip == 0 else {
                        skip -= 1
                        continue
                    }
                    self.post(.input(event))
                }
            }
            group.addTask {
                for await transition in self.parts.uplink.alerts.transitions { self.post(.alert(transition)) }
            }
            group.addTask {
                for await refusal in self.parts.uplink.alerts.refusals { self.post(.refusal(refusal)) }
            }
            group.addTask { await self.process() }
        }
    }

    /// A clean stop: the last fix saved and the run marked `stopped`, so the next start is a clean restart.
    /// Not called when the box fails (the next start then says power cut or watchdog, which is what it was).
    public func stopped() {
        guard parts.restarts != nil else { return }
        saveFix(now: clock.now, urgent: true)
        do {
            try parts.outbox.setRunMark(
                RunMark(state: .stopped, timeMilliseconds: fixes.wallTime(at: clock.now).time.epochMilliseconds))
        } catch {
            logger.warning("cannot mark the clean stop in the outbox", metadata: ["error": "\(error)"])
        }
    }

    /// Saves the last fix when it is owed (``LastFixFile/due(_:saved:lastSave:now:urgent:)``).
    private func saveFix(now: MonotonicInstant, urgent: Bool) {
        guard let restarts = parts.restarts else { return }
        let current = fixes.savable(at: now)
        let (saved, at) = fixSaved.withLock { $0 }
        guard LastFixFile.due(current, saved: saved, lastSave: at, now: now, urgent: urgent), let current else {
            return
        }
        do {
            try LastFixFile.write(current, path: restarts.fixPath)
            fixSaved.withLock { $0 = (current, now) }
            if at == nil { logger.info("last fix saved", metadata: ["path": "\(restarts.fixPath)"]) }
        } catch {
            // Tried again at the next step; the fix is a convenience, never a reason to stop.
            logger.warning("cannot save the last fix", metadata: ["path": "\(restarts.fixPath)", "error": "\(error)"])
        }
    }

    /// The engine's loop: one piece of work at a time, then the one timer re-armed for the engine's next deadline.
    private func process() async {
        var timer = DeadlineTimer(clock: clock)
        defer { timer.cancel() }
        let fire: @Sendable (UInt64) -> Void = { self.post(.tick($0)) }
        timer.arm(nextDeadline, fire: fire)
        for await item in work {
            handle(item, timer: &timer)
            timer.arm(nextDeadline, fire: fire)
            pending.withLock { $0 -= 1 }
        }
    }

    /// The engine's next deadline, or sooner when the alert-state file is owed a write or records are held in
    /// memory on a full card (both retried every second until the disk takes them).
    private var nextDeadline: MonotonicInstant {
        let engineDeadline = engine.withLock { $0.nextDeadline }
        guard saved.withLock({ $0.owed }) || parts.outbox.heldCount > 0 else { return engineDeadline }
        return min(engineDeadline, clock.now.advanced(by: EngineStateFile.retryInterval))
    }

    private func handle(_ item: Work, timer: inout DeadlineTimer) {
        let now = clock.now
        let wall = fixes.wallTime(at: now)
        let moment = AlertEngine.Moment(
            now: now, time: wall.time, timeSource: wall.source, fix: fixes.recordFix(at: now),
            telemetry: telemetry.current(
                ignition: inputService.isAsserted(role: .ignition), mainPower: inputService.isAsserted(role: .power),
                enclosureOpen: inputService.isAsserted(role: .tamper), emergencyOpen: emergencyOpen))
        switch item {
        case .boot(let starting):
            let previous = previousRun
            let reason = BootRules.reason(
                mark: previous.mark, outboxNew: previous.outboxNew,
                watchdogReset: previous.mark?.state == .running && (parts.restarts?.watchdogReset() ?? false))
            let down = BootRules.downtime(lastAlive: previous.lastAlive, now: wall.time.epochMilliseconds)
            do {
                try parts.outbox.setRunMark(RunMark(state: .running, timeMilliseconds: wall.time.epochMilliseconds))
            } catch {
                logger.warning("cannot mark the run in the outbox", metadata: ["error": "\(error)"])
            }
            logger.notice(
                "boot: \(reason.rawValue)",
                metadata: ["down-ms": "\(down.map(String.init) ?? "unknown")", "found": "\(starting.count)"])
            for event in starting { eventSink.yield(.input(event)) }
            let specs = parts.inputs.specs
            submit(
                engine.withLock {
                    $0.boot(
                        reason: reason, downMilliseconds: down, starting: starting, specs: specs, at: moment,
                        health: { self.health(now: now) })
                })
            let faulty = engine.withLock { !$0.persistentState.inputFaults.isEmpty }
            let state = situation.withLock {
                $0.inputFault = faulty
                return IndicatorPolicy.show($0)
            }
            showIfChanged(state)
            saveFix(now: now, urgent: true)
        case .input(let event):
            eventSink.yield(.input(event))
            // An alert gets a fresh reading for the records that follow it (the alert itself carries the latest).
            if event.kind == .emergency || event.kind == .help { telemetry.refresh() }
            let drafts = engine.withLock { $0.handle(event, at: moment, health: { self.health(now: now) }) }
            submit(drafts)
            saveFix(now: now, urgent: drafts.contains { $0.body.kind.isAlert })
            let faulty = engine.withLock { !$0.persistentState.inputFaults.isEmpty }
            let state = situation.withLock {
                $0.inputFault = faulty
                return IndicatorPolicy.show($0)
            }
            showIfChanged(state)
        case .alert(let transition):
            eventSink.yield(.alert(transition))
            followed(transition)
            engine.withLock { $0.alertStateChanged(alert: transition.alert, to: transition.to, at: now) }
            let cleared = transition.to == .cleared && (transition.kind == .emergency || transition.kind == .help)
            let state = situation.withLock {
                $0.apply(transition)
                return IndicatorPolicy.show($0, justCleared: cleared)
            }
            showIfChanged(state, again: cleared)
        case .refusal(let refusal):
            // A refused alert shows a fault, never SENT: she must not be told it reached anyone.
            let state = situation.withLock {
                switch refusal {
                case .refused(let alert, _, _, _): $0.undeliverable.insert(alert)
                case .settled(let alert): $0.undeliverable.remove(alert)
                }
                return IndicatorPolicy.show($0)
            }
            showIfChanged(state)
        case .tick(let generation):
            guard timer.fired(generation) else { return }
            retryHeld()
            submit(engine.withLock { $0.tick(moment, health: { self.health(now: now) }) })
            saveFix(now: now, urgent: false)
        case .firstFix:
            saveFix(now: now, urgent: false)
        }
        persist()
    }

    private func submit(_ drafts: [RecordDraft]) {
        for draft in drafts {
            do {
                switch try parts.uplink.submit(draft) {
                case .stored(let record):
                    if draft.body.kind == .emergency || draft.body.kind == .help {
                        alertSequences.withLock { $0[draft.id] = record.sequence }
                    }
                    eventSink.yield(.stored(id: draft.id, kind: draft.body.kind, sequence: record.sequence))
                default:
                    eventSink.yield(.held(id: draft.id, kind: draft.body.kind))
                    if draft.body.kind == .emergency || draft.body.kind == .help {
                        // Not committed: the LED must not say STORED (a power cut now would lose it).
                        let state = situation.withLock {
                            $0.held[draft.id] = draft.body.kind
                            return IndicatorPolicy.show($0)
                        }
                        showIfChanged(state)
                    }
                    logger.warning(
                        "record held in memory until the outbox can take it", metadata: ["id": "\(draft.id)"])
                }
            } catch {
                logger.error("cannot append a record", metadata: ["kind": "\(draft.body.kind)", "error": "\(error)"])
            }
        }
    }

    /// Keeps what an alert's transition means beyond the LED: the sequence of an alert just committed (also one
    /// held on a full card and committed later), and the commands' history in the outbox, from which a lost
    /// alert-state file is rebuilt.
    private func followed(_ transition: AlertTransition) {
        guard transition.kind == .emergency || transition.kind == .help else { return }
        if transition.from == nil, let sequence = parts.uplink.alerts.sequence(of: transition.alert) {
            alertSequences.withLock { $0[transition.alert] = sequence }
        }
        do {
            try parts.outbox.recordAlertState(transition.to, alert: transition.alert)
        } catch {
            logger.warning(
                "cannot record the alert's state in the outbox (the alert-state file still has it)",
                metadata: ["alert": "\(transition.alert)", "state": "\(transition.to.rawValue)", "error": "\(error)"])
        }
    }

    private func retryHeld() {
        guard parts.outbox.heldCount > 0 else { return }
        do {
            let stored = try parts.uplink.retryHeld()
            for record in stored {
                guard let id = record.decodedRecord()?.id else { continue }
                eventSink.yield(.stored(id: id, kind: record.kind, sequence: record.sequence))
            }
        } catch {
            logger.warning("held records still cannot be committed", metadata: ["error": "\(error)"])
        }
    }

    /// Writes the engine's state durably when it changed, before anything else can happen. A failed write (a
    /// full disk) is owed: retried at every step and every second until it succeeds, and reported meanwhile.
    private func persist() {
        let after = engine.withLock { $0.persistentState }
        let open = Set([after.openEmergency].compactMap { $0 } + after.openHelp)
        let sequences = alertSequences.withLock { sequences in
            sequences = sequences.filter { open.contains($0.key) }
            return sequences
        }
        let alerts = situation.withLock { $0.alerts.filter { open.contains($0.key) } }
        let contents = EngineStateFile.Contents(engine: after, alertSequences: sequences, alerts: alerts)
        let (last, owed) = saved.withLock { $0 }
        guard owed || contents != last else { return }
        do {
            try EngineStateFile.write(contents, path: parts.statePath)
            saved.withLock { $0 = (contents, false) }
            if owed {
                boxFaults.withLock { _ = $0.remove("engine-state-unwritable") }
                logger.notice("alert state saved again", metadata: ["path": "\(parts.statePath)"])
                eventSink.yield(.fault("engine-state-unwritable", raised: false))
            }
        } catch {
            saved.withLock { $0.owed = true }
            boxFaults.withLock { _ = $0.insert("engine-state-unwritable") }
            if !owed {
                eventSink.yield(.fault("engine-state-unwritable", raised: true))
                logger.error(
                    "cannot save the alert state: retrying every second",
                    metadata: ["path": "\(parts.statePath)", "error": "\(error)"])
            }
        }
    }

    /// The box's own faults now (they go into each health record).
    public var faults: [String] { boxFaults.withLock { $0.sorted() } }

    /// Whether the alert-state file is owed a write that failed.
    public var alertStateOwed: Bool { saved.withLock { $0.owed } }

    private func health(now: MonotonicInstant) -> HealthReport {
        let status = try? parts.outbox.status()
        let oldest = status?.oldestUndelivered.map {
            fixes.wallTime(at: now).time.epochMilliseconds - $0.epochMilliseconds
        }
        return HealthReport(
            queueDepth: status?.undelivered ?? 0, oldestUndeliveredAgeMilliseconds: oldest,
            diskFreeBytes: Self.freeBytes(at: parts.outbox.path), droppedRecords: status?.droppedUnreported ?? 0,
            faults: (status?.faults ?? []) + boxFaults.withLock { $0.sorted() }
                + parts.uplink.faults.map(\.description), software: parts.software, configVersion: parts.configVersion)
    }

    private func show(_ state: IndicatorState) {
        lastShown.withLock { $0 = state }
        indicator.show(state)
        eventSink.yield(.indicator(state))
    }

    /// Shows `state` unless the LED already shows it (`again`: show it even so, e.g. a second alert cleared).
    private func showIfChanged(_ state: IndicatorState, again: Bool = false) {
        guard again || lastShown.withLock({ $0 }) != state else { return }
        show(state)
    }

    static func freeBytes(at path: String) -> Int64? {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let attributes = try? FileManager.default.attributesOfFileSystem(forPath: directory)
        return (attributes?[.systemFreeSize] as? NSNumber)?.int64Value
    }
}

extension PanicBox {
    /// Where the stream mark of the device key kept at `keyFile` lives: beside the key, so an outbox lost while the
    /// key stays (moved aside as corrupt, deleted, an older image) never reuses a sequence number.
    public static func streamMarkPath(keyFile: String) -> String { keyFile + ".stream" }

    /// Opens a box's outbox with its stream mark: the one way `panicd run` and the simulated box (`panicd sim`) open
    /// it, so both keep the stream's continuity (docs/outbox.md → stream continuity) the same way.
    public static func openOutbox(
        path: String, key: DeviceKey, streamMark: String, maxRecords: Int = 50_000, logger: Logger
    ) throws -> Outbox {
        try Outbox(
            path: path, sealer: RecordSigner(key: key),
            configuration: OutboxConfiguration(maxRecords: maxRecords, streamMarkPath: streamMark), logger: logger)
    }
}
