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
/// and the push channel (and whatever else watches) subscribes.
public final class ControlRoomChanges: Sendable {
    private let subscribers = Mutex<[@Sendable (ControlRoomChange) -> Void]>([])

    public init() {}

    /// Calls `handler` with every change published from now on (on the publisher's task: keep it short).
    public func subscribe(_ handler: @escaping @Sendable (ControlRoomChange) -> Void) {
        subscribers.withLock { $0.append(handler) }
    }

    /// Tells every subscriber of `change`.
    public func publish(_ change: ControlRoomChange) {
        guard !change.kinds.isEmpty else { return }
        for handler in subscribers.withLock({ $0 }) { handler(change) }
    }
}
