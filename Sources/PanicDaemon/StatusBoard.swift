import Foundation
import PanicCore
import PanicUplink
import Synchronization

/// The running box as the status socket, `STATUS=` and the log see it: fed with the box's and the uplink's
/// events (by `BoxService`, their one reader), read by `snapshot()`, and watched through `subscribe()`.
public final class StatusBoard: Sendable {
    /// What a subscriber hears: the status changed, or an input event happened.
    public enum Change: Sendable {
        case changed
        case input(StatusMessage.InputReport)
    }

    struct InputState {
        var spec: InputLineSpec
        var last: InputEventKind?
        var lastAt: MonotonicInstant?
        var fault: InputEventKind?
    }

    struct BackendState {
        var reachability: BoxStatus.Reachability = .unknown
        var lastDelivery: MonotonicInstant?
        var lastError: String?
        var failuresInARow = 0
        var downSince: MonotonicInstant?
    }

    struct State {
        var indicator: IndicatorState = .armed
        var inputs: [InputState]
        var backends: [String: BackendState]
        var lastError: String?
        var subscribers: [Int: AsyncStream<Change>.Continuation] = [:]
        var nextSubscriber = 0
        /// Events taken in since start; the watchdog looks for it to move.
        var events = 0
        var lastUplinkEvent: MonotonicInstant?
    }

    let box: PanicBox
    let deviceID: String
    let boardID: String
    let backendNames: [String]
    let clock: any MonotonicClock
    let started: MonotonicInstant
    private let state: Mutex<State>

    public init(
        box: PanicBox, deviceID: String, board: BoardDefinition, backends: [String], clock: any MonotonicClock
    ) {
        self.box = box
        self.deviceID = deviceID
        boardID = board.id
        backendNames = backends
        self.clock = clock
        started = clock.now
        state = Mutex(
            State(
                inputs: board.inputs.map { InputState(spec: $0) },
                backends: Dictionary(uniqueKeysWithValues: backends.map { ($0, BackendState()) })))
    }

    // MARK: Taking events in

    /// A box event; returns what the log should say about it as a state change, if anything.
    public func record(_ event: BoxEvent) {
        let now = clock.now
        var input: StatusMessage.InputReport?
        state.withLock { state in
            state.events += 1
            switch event {
            case .input(let event):
                if state.inputs.indices.contains(event.line) {
                    state.inputs[event.line].last = event.kind
                    state.inputs[event.line].lastAt = now
                    if event.kind.isFault {
                        state.inputs[event.line].fault = event.kind
                    } else if event.kind == .wireRestored || event.kind == .stuckCleared {
                        state.inputs[event.line].fault = nil
                    }
                }
                input = .init(
                    name: event.name, role: event.role.rawValue, kind: event.kind.rawValue,
                    atMilliseconds: started.duration(to: event.at).milliseconds)
            case .indicator(let indicator):
                state.indicator = indicator
            case .fault(let fault, _):
                state.lastError = fault
            case .stored, .held, .alert:
                break
            }
        }
        if let input { publish(.input(input)) }
        publish(.changed)
    }

    /// What an uplink event changed about a backend's reachability, for one log line per change.
    public enum BackendChange: Sendable, Equatable {
        case reachable(backend: String)
        case unreachable(backend: String, reason: String)
        case recovered(backend: String, after: Duration, failures: Int)
    }

    /// An uplink event; returns the reachability change it made, if any.
    @discardableResult
    public func record(_ event: UplinkEvent) -> BackendChange? {
        let now = clock.now
        let change: BackendChange? = state.withLock { state in
            state.lastUplinkEvent = now
            switch event {
            case .delivered(let name, _, _):
                var backend = state.backends[name] ?? BackendState()
                defer { state.backends[name] = backend }
                let before = backend
                backend.reachability = .reachable
                backend.lastDelivery = now
                backend.lastError = nil
                backend.failuresInARow = 0
                backend.downSince = nil
                switch before.reachability {
                case .unknown: return .reachable(backend: name)
                case .unreachable:
                    return .recovered(
                        backend: name, after: (before.downSince ?? now).duration(to: now),
                        failures: before.failuresInARow)
                case .reachable: return nil
                }
            case .failed(let name, _, let reason):
                var backend = state.backends[name] ?? BackendState()
                defer { state.backends[name] = backend }
                let wasDown = backend.reachability == .unreachable
                let clean = Self.cleanReason(reason)
                backend.reachability = .unreachable
                backend.lastError = clean
                backend.failuresInARow += 1
                if !wasDown { backend.downSince = now }
                return wasDown ? nil : .unreachable(backend: name, reason: clean)
            case .refused(let name, _, _, let reason):
                state.backends[name, default: BackendState()].lastError = Self.cleanReason("record refused: \(reason)")
                return nil
            case .fault(let fault):
                state.lastError = Self.cleanReason("\(fault)")
                return nil
            case .idle, .faultCleared:
                return nil
            }
        }
        if change != nil { publish(.changed) }
        return change
    }

    /// Notes an error the daemon logged, for `panicd status`'s "last error".
    public func noteError(_ text: String) {
        state.withLock { $0.lastError = Self.cleanReason(text) }
        publish(.changed)
    }

    /// Tells watchers to look again (the monitor calls it on its tick, so ages move on screen).
    public func refresh() { publish(.changed) }

    /// A failure reason on one line, short enough for `systemctl status` and a journal line.
    static func cleanReason(_ reason: String) -> String {
        let words = reason.split(whereSeparator: { $0.isWhitespace || $0.isNewline })
        let line = words.joined(separator: " ")
        return line.count > 160 ? String(line.prefix(157)) + "…" : line
    }

    var eventsTaken: Int { state.withLock { $0.events } }
    var lastUplinkEvent: MonotonicInstant? { state.withLock { $0.lastUplinkEvent } }

    // MARK: Reading

    /// The box now. Reads the outbox's counts (one short SQLite read) and the fix keeper.
    public func snapshot() -> BoxStatus {
        let now = clock.now
        let outbox: (status: OutboxStatusView?, error: String?)
        do {
            let status = try box.parts.outbox.status()
            outbox = (
                OutboxStatusView(
                    undelivered: status.undelivered, oldest: status.oldestUndelivered, faults: status.faults,
                    backends: Dictionary(
                        status.backends.map { ($0.name, ($0.undelivered, $0.inFlight)) },
                        uniquingKeysWith: { a, _ in a }
                    )), nil
            )
        } catch {
            outbox = (nil, "outbox: \(error)")
        }
        let recordFix = box.fixes.recordFix(at: now)
        let fix = BoxStatus.Fix(
            current: box.fixes.hasCurrentFix, ageSeconds: recordFix.map { Double($0.ageMilliseconds) / 1000 },
            mode: recordFix?.mode.rawValue, satellites: recordFix?.satellites, hdop: recordFix?.hdop,
            chunksDecoded: box.fixes.chunksDecoded)
        let wall = box.fixes.wallTime(at: now).time.epochMilliseconds
        let alerts = box.openAlerts
        let emergencyOpen = alerts.contains { $0.kind == RecordKind.emergency.rawValue }
        let helpOpen = alerts.contains { $0.kind == RecordKind.help.rawValue }
        return state.withLock { state in
            let inputs = state.inputs.map { input in
                BoxStatus.Input(
                    name: input.spec.name, role: input.spec.role.rawValue, last: input.last?.rawValue,
                    lastAgeSeconds: input.lastAt.map { Self.seconds($0.duration(to: now)) },
                    fault: input.fault?.rawValue)
            }
            let backends = backendNames.map { name in
                let backend = state.backends[name] ?? BackendState()
                let counts = outbox.status?.backends[name]
                return BoxStatus.Backend(
                    name: name, queued: counts?.0 ?? 0, inFlight: counts?.1 ?? 0, reachability: backend.reachability,
                    lastDeliveryAgeSeconds: backend.lastDelivery.map { Self.seconds($0.duration(to: now)) },
                    lastError: backend.lastError)
            }
            let faulty = inputs.contains { $0.fault != nil }
            let stateName =
                switch (emergencyOpen, helpOpen) {
                case _ where state.indicator == .notStoredFull: "alert not stored: card full"
                case (true, true): "emergency and help open"
                case (true, false): "emergency open"
                case (false, true): "help open"
                case (false, false): state.indicator == .fault || faulty ? "fault" : "armed"
                }
            return BoxStatus(
                version: PanicBridgeVersion.current, device: deviceID, board: boardID, state: stateName,
                emergencyOpen: emergencyOpen, alerts: alerts, indicator: state.indicator.rawValue, inputs: inputs,
                fix: fix,
                backends: backends, queued: outbox.status?.undelivered ?? 0,
                oldestUndeliveredAgeSeconds: outbox.status?.oldest.map { Double(wall - $0.epochMilliseconds) / 1000 },
                faults: outbox.status?.faults ?? [], lastError: outbox.error ?? state.lastError,
                uptimeSeconds: Self.seconds(started.duration(to: now)), configVersion: box.parts.configVersion)
        }
    }

    /// The receiver as `panicd gnss watch --live` shows it.
    public func gnssReport() -> StatusMessage.GNSSReport {
        let now = clock.now
        let fix = box.fixes.recordFix(at: now)
        return StatusMessage.GNSSReport(
            current: box.fixes.hasCurrentFix, latitude: fix?.latitude, longitude: fix?.longitude,
            ageSeconds: fix.map { Double($0.ageMilliseconds) / 1000 }, mode: fix?.mode.rawValue,
            satellites: fix?.satellites, hdop: fix?.hdop, speed: fix?.speed, chunksDecoded: box.fixes.chunksDecoded,
            timeSource: box.fixes.wallTime(at: now).source.rawValue)
    }

    struct OutboxStatusView {
        var undelivered: Int
        var oldest: RecordTime?
        var faults: [String]
        var backends: [String: (Int, Int)]
    }

    static func seconds(_ duration: Duration) -> Double { Double(duration.milliseconds) / 1000 }

    // MARK: Watching

    /// Changes from now on, until the returned stream's consumer stops (the subscription ends with it).
    public func subscribe() -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream.makeStream(of: Change.self, bufferingPolicy: .bufferingNewest(64))
        let id = state.withLock { state in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every subscription (at shutdown).
    public func finish() {
        let subscribers = state.withLock { state in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func publish(_ change: Change) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(change) }
    }
}
