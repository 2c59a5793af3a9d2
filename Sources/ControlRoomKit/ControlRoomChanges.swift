import PanicCore
import Synchronization

/// One change the control room committed, as its change stream carries it: what kind, and for stored records
/// which devices. Published once per commit by the control room (`ControlRoom.changes`) — and on PostgreSQL by every
/// instance's commits, through `NOTIFY panicbridge_desk` (`init(notification:)`).
public struct ControlRoomChange: Sendable, Hashable {
    /// What changed.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case alerts, audit, dispatches, metadata, registry, rollouts
        /// Records other than positions (an alert, a clear, a health report...).
        case records
        /// Position records only, of `devices`.
        case positions
        /// A box's confirmations or refusals of commands.
        case receipts
    }

    public var kinds: Set<Kind>
    /// The devices whose records changed (with `records`, `positions`, `receipts`); empty when not known.
    public var devices: Set<String>

    public init(_ kinds: Set<Kind>, devices: Set<String> = []) {
        self.kinds = kinds
        self.devices = devices
    }

    /// What one stored batch of `device` changed: the kinds of the records it stored, and whether it carried
    /// command receipts.
    public init(stored kinds: Set<RecordKind>, device: String, receipts: Bool) {
        var changed: Set<Kind> = []
        if kinds.contains(.position) { changed.insert(.positions) }
        if kinds.contains(where: { $0 != .position }) { changed.insert(.records) }
        if receipts { changed.insert(.receipts) }
        self.init(changed, devices: [device])
    }

    /// The change a `panicbridge_desk` notification names: a table (`alerts`, `audit`, `dispatches`, `device_meta`,
    /// `records`...), or `positions` and the devices; anything unknown is taken as a change of every kind.
    public init(notification payload: String) {
        let words = payload.split(separator: " ").map(String.init)
        switch words.first {
        case "positions"?: self.init([.positions], devices: Set(words.dropFirst()))
        case "records"?: self.init([.records])
        case "alerts"?: self.init([.alerts])
        case "audit"?: self.init([.audit])
        case "dispatches"?: self.init([.dispatches])
        case "device_meta"?: self.init([.metadata])
        default: self.init(Set(Kind.allCases))
        }
    }
}

/// The control room's one change stream: every commit that changes what an operator sees is published here, once,
/// and the push channel (and whatever else watches) subscribes. A subscription lasts until its `cancel()`: a desk
/// cancels its own when it ends, so a desk made and dropped while its room lives is called no more.
public final class ControlRoomChanges: Sendable {
    private struct Subscribers {
        var last: UInt64 = 0
        var handlers: [(id: UInt64, handler: @Sendable (ControlRoomChange) -> Void)] = []
    }

    private let subscribers = Mutex(Subscribers())

    public init() {}

    /// One subscriber's place on the stream; `cancel()` removes it (a second cancel does nothing).
    public final class Subscription: Sendable {
        private let end: Mutex<(@Sendable () -> Void)?>

        init(end: @escaping @Sendable () -> Void) { self.end = Mutex(end) }

        /// Stops the calls: no change published after it returns reaches the handler.
        public func cancel() {
            let end = end.withLock { end in
                defer { end = nil }
                return end
            }
            end?()
        }
    }

    /// How many subscriptions are live.
    public var count: Int { subscribers.withLock { $0.handlers.count } }

    /// Calls `handler` with every change published from now on (on the publisher's task: keep it short), until
    /// the returned subscription is cancelled.
    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (ControlRoomChange) -> Void) -> Subscription {
        let id = subscribers.withLock { subscribers in
            subscribers.last += 1
            subscribers.handlers.append((subscribers.last, handler))
            return subscribers.last
        }
        return Subscription { [weak self] in
            self?.subscribers.withLock { $0.handlers.removeAll { $0.id == id } }
        }
    }

    /// Tells every subscriber of `change`, in the order they subscribed.
    public func publish(_ change: ControlRoomChange) {
        guard !change.kinds.isEmpty else { return }
        for entry in subscribers.withLock({ $0.handlers }) { entry.handler(change) }
    }
}

/// "Something changed": a version number that goes up on every change, and waiters woken when it does. The
/// record endpoint and every operator action poke it; each push stream waits on it. No polling: a waiter sleeps
/// until it is poked, cancelled, or the signal is closed.
public final class DeskSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var closed = false
        var nextToken: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<UInt64?, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The current version.
    public var version: UInt64 { state.withLock { $0.version } }

    /// Marks a change and wakes every waiter.
    public func poke() {
        let (waiters, version) = state.withLock { state in
            state.version += 1
            defer { state.waiters.removeAll() }
            return (state.waiters.values, state.version)
        }
        for waiter in waiters { waiter.resume(returning: version) }
    }

    /// Ends every push stream (the server is stopping).
    public func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Waits until the version is above `after`; returns it, or nil once closed or cancelled.
    public func waitForChange(after: UInt64) async -> UInt64? { await next(after: after) }

    /// Waits until the version is above `after` or, when `deadlineMs` is given, until the wall clock `wall` reaches
    /// that time (epoch ms), timed on `clock`, whichever comes first; true once the signal is closed or the task
    /// cancelled (the caller stops). The services that act on changes and on their own deadlines (escalation,
    /// rollouts) wait here. `clock` is read before `wall`: were time to move between the two readings (a test's
    /// manual clock advanced, the wall clock stepped), the wait ends early and the caller looks again — never late.
    package func waitForChange(
        after version: UInt64, orUntil deadlineMs: Int64?, wall: () -> RecordTime, on clock: any Clock<Duration>
    ) async -> Bool {
        let sleep = deadlineMs.map { Self.sleep(on: clock, untilWall: $0, wall: wall) }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.next(after: version) == nil && !Task.isCancelled }
            if let sleep {
                group.addTask {
                    await sleep()
                    return false
                }
            }
            let first = await group.next() ?? true
            group.cancelAll()
            return first
        }
    }

    /// A sleep on `clock` until the instant at which `wall` will read `deadlineMs`, from one reading of each.
    private static func sleep<C: Clock>(
        on clock: C, untilWall deadlineMs: Int64, wall: () -> RecordTime
    ) -> @Sendable () async -> Void where C.Duration == Duration {
        let start = clock.now
        let until = start.advanced(by: .milliseconds(max(0, deadlineMs - wall().epochMilliseconds)))
        return { try? await clock.sleep(until: until, tolerance: nil) }
    }

    /// Waits until the version is above `after`; returns it, or nil once closed or cancelled.
    package func next(after: UInt64) async -> UInt64? {
        let token = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64?, Never>) in
                let immediate: UInt64?? = state.withLock { state in
                    if state.closed || Task.isCancelled { return .some(nil) }
                    if state.version > after { return .some(state.version) }
                    state.waiters[token] = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: token) }?.resume(returning: nil)
        }
    }
}
