import AsyncHTTPClient
import ControlRoomKit
import Foundation
import NIOCore
import PanicConfig
import PanicCore
import PanicSigning
import Synchronization

/// How a simulation's time passes.
public enum SimulationPace: Sendable, Equatable {
    /// A virtual clock that jumps to the next thing that happens once every part waits for it: hours in seconds.
    case virtual
    /// The system's monotonic clock: as a box on a bus lives, for interactive use and external control rooms.
    case realtime
}

/// Moves simulated time for a set of boxes. On the virtual clock it advances only when every box is idle (every
/// part waits for the clock) and feeds each box the receiver epochs of the seconds it skips, decoded before the
/// jump, so whatever wakes sees the fix the bus had then. In real time it waits on the system clock, pushing each
/// second's epoch as it comes, and wakes early when an interactive command arrives.
///
/// Used from one conductor task: not `Sendable`.
final class Conductor {
    let world: SimulationWorld
    /// The virtual clock (nil in real time).
    let manual: ManualClock?
    var boxes: [SimulatedBox] = []
    private let wakeSignal = WakeSignal()

    init(world: SimulationWorld, manual: ManualClock?) {
        self.world = world
        self.manual = manual
    }

    var elapsed: Duration { world.time.elapsed }
    var now: MonotonicInstant { world.time.clock.now }

    /// The earliest instant a box's own timer waits for (virtual clock only; in real time the timers wake by
    /// themselves).
    var nextDeadline: MonotonicInstant? { manual?.nextDeadline }

    /// Makes a waiting `advance` return early (an interactive command came in). Callable from any task.
    var waker: @Sendable () -> Void {
        let signal = wakeSignal
        return { signal.signal() }
    }

    /// Throws when a box's `panicd` stopped by itself: the run cannot go on meaningfully.
    func checkBoxes() throws {
        for box in boxes {
            if let failure = box.failure { throw SimulationError("\(box.name): panicd stopped: \(failure)") }
        }
    }

    /// Returns once every box has done what it can without time moving (virtual), or after a yield (real time).
    func settle() async {
        pushEpochs(upTo: now)
        if let manual {
            await VirtualTime.settle(clock: manual) { boxes.contains { $0.isBusy } }
        } else {
            await Task.yield()
        }
    }

    /// Moves time on to `target` (virtual), or waits for it, for the next receiver epoch, or for a wake-up,
    /// whichever comes first (real time).
    func advance(to target: MonotonicInstant) async {
        guard target > now else { return }
        if let manual {
            pushEpochs(upTo: target)
            while boxes.contains(where: { !$0.hasDecodedEverything }) { await Task.yield() }
            manual.advance(to: target)
            return
        }
        let nextEpoch = boxes.map { $0.lastEpoch.advanced(by: .seconds(1)) }.min()
        let until = min(target, nextEpoch ?? target)
        let clock = world.time.clock
        let signal = wakeSignal
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: until, tolerance: .milliseconds(5)) }
            group.addTask { await signal.wait() }
            await group.next()
            group.cancelAll()
        }
        pushEpochs(upTo: now)
    }

    /// Lets time run for `duration` while the boxes work (the conductor's own waits, e.g. a button held down).
    func run(for duration: Duration, between: () async throws -> Void = {}) async rethrows {
        let until = now.advanced(by: duration)
        while now < until {
            await settle()
            await advance(to: min(nextDeadline ?? until, until))
            try await between()
        }
    }

    private func pushEpochs(upTo target: MonotonicInstant) {
        for box in boxes { box.pushEpochs(upTo: target) }
    }
}

/// A wake-up that can be given before anyone waits (it is kept until taken) and whose wait ends on cancellation.
/// (An `AsyncStream` will not do: cancelling a task waiting in its `next()` finishes the stream for good.)
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Wakes the waiter, or the next one to wait.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when signalled (at once if a signal is pending) or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// The operator the simulator plays when a scenario or fleet says so: accepts each alert a while after it shows
/// up, then clears it.
struct AutoOperator {
    struct Due {
        var at: Duration
        var action: Scenario.OperatorAction
        var device: String
        var alert: String
    }

    var acceptAfter: Duration?
    var clearAfter: Duration?
    private(set) var queue: [Due] = []

    init(acceptAfter: Duration?, clearAfter: Duration?) {
        self.acceptAfter = acceptAfter
        self.clearAfter = clearAfter
    }

    /// Plans the answer to a newly arrived alert (tamper reports are for the maintenance desk: not answered).
    mutating func saw(_ alert: AlertView, at now: Duration) {
        guard let acceptAfter, alert.kind != "tamper" else { return }
        queue.append(Due(at: now + acceptAfter, action: .accept, device: alert.device, alert: alert.id))
        if let clearAfter {
            queue.append(Due(at: now + acceptAfter + clearAfter, action: .clear, device: alert.device, alert: alert.id))
        }
    }

    /// Takes what is due by `now`.
    mutating func due(at now: Duration) -> [Due] {
        let due = queue.filter { $0.at <= now }
        queue.removeAll { $0.at <= now }
        return due
    }

    /// When the next planned action is due.
    var next: Duration? { queue.map(\.at).min() }
}

/// What a simulation knows about deliveries to one device, from the control room's side.
struct DeliverySummary: Sendable {
    var records: Int
    var gaps: Int
    /// Records stored more than once under one sequence number, or chain findings (forks, replays).
    var duplicates: Int
    var byKind: [RecordKind: Int]
}

/// The control room a simulation sends to, as the simulator's operator and auditor see it.
protocol ControlRoomDesk: Sendable {
    /// Alerts that arrived since the last call.
    func newAlerts() async throws -> [AlertView]
    /// Alerts still open (not cleared and confirmed).
    func openAlerts() async throws -> [AlertView]
    /// Accepts or clears an alert, as the operator's page does.
    func act(_ action: Scenario.OperatorAction, device: String, alert: String) async throws -> AlertView
    /// What arrived from `device`.
    func summary(device: String) async throws -> DeliverySummary
}

/// The embedded reference control room, reached directly.
final class EmbeddedDesk: ControlRoomDesk {
    let room: ControlRoom
    private let cursor = Mutex<Int64>(0)

    init(room: ControlRoom) { self.room = room }

    func newAlerts() throws -> [AlertView] {
        let from = cursor.withLock { $0 }
        let (alerts, next) = try room.alerts(after: from)
        cursor.withLock { $0 = next }
        return alerts
    }

    func openAlerts() throws -> [AlertView] { try room.openAlerts() }

    func act(_ action: Scenario.OperatorAction, device: String, alert: String) throws -> AlertView {
        action == .accept ? try room.accept(device: device, alert: alert) : try room.clear(device: device, alert: alert)
    }

    func summary(device: String) throws -> DeliverySummary {
        let arrivals = try room.arrivalOrder(device: device)
        var byKind: [RecordKind: Int] = [:]
        for arrival in arrivals { byKind[arrival.kind, default: 0] += 1 }
        let forks = try room.findings(device: device).count
        return DeliverySummary(
            records: try room.recordCount(device: device),
            gaps: try room.gaps(device: device).reduce(0) { $0 + $1.count },
            duplicates: arrivals.count - Set(arrivals.map(\.sequence)).count + forks, byKind: byKind)
    }
}

/// An external control room (`controlroom serve`, or a real one speaking the same API), over HTTP: the operator
/// page's own endpoints.
final class RemoteDesk: ControlRoomDesk {
    let baseURL: String
    private let seen = Mutex<Set<String>>([])

    init(baseURL: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// Fetches the control room's public key from `GET /v1/identity` (when none was pinned on the command line).
    func identity() async throws -> DeviceIdentity {
        struct Identity: Decodable { var jwk: String }
        let answer: Identity = try await call("GET", "/v1/identity")
        guard let identity = DeviceIdentity(jwk: answer.jwk) else {
            throw SimulationError("\(baseURL)/v1/identity: the control room has no signing key")
        }
        return identity
    }

    func newAlerts() async throws -> [AlertView] {
        let all: [AlertView] = try await call("GET", "/v1/alerts?all=1")
        return seen.withLock { seen in all.filter { seen.insert($0.id).inserted } }
    }

    func openAlerts() async throws -> [AlertView] { try await call("GET", "/v1/alerts") }

    func act(_ action: Scenario.OperatorAction, device: String, alert: String) async throws -> AlertView {
        try await call("POST", "/v1/alerts/\(device)/\(alert)/\(action.rawValue)")
    }

    func summary(device: String) async throws -> DeliverySummary {
        let devices: [RegisteredDevice] = try await call("GET", "/v1/devices")
        guard let entry = devices.first(where: { $0.id == device }) else {
            throw SimulationError("the control room at \(baseURL) does not know device \(device)")
        }
        let gaps = entry.gaps.reduce(0) { total, range in
            let bounds = range.split(separator: "-").compactMap { Int($0) }
            return total + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
        }
        // The API has no per-kind counts; the store keeps one copy per sequence number, so only findings
        // (forks, replays) can show a duplicate.
        return DeliverySummary(records: entry.records, gaps: gaps, duplicates: entry.findings.count, byKind: [:])
    }

    private func call<T: Decodable>(_ method: String, _ path: String) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        let response: HTTPClientResponse
        do { response = try await HTTPClient.shared.execute(request, timeout: .seconds(10)) } catch {
            throw SimulationError("\(method) \(baseURL)\(path): \(error)")
        }
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else {
            throw SimulationError(
                "\(method) \(baseURL)\(path): HTTP \(response.status.code) \(String(buffer: body))")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)) } catch {
            throw SimulationError("\(method) \(baseURL)\(path): unexpected answer: \(error)")
        }
    }
}
