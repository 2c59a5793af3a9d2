/// One alert, by its device and record id.
public struct AlertRef: Sendable, Hashable {
    public var device: String
    public var id: String

    public init(device: String, id: String) {
        self.device = device
        self.id = id
    }
}

/// Where a page of closed alerts stopped: the press time, device and sequence number of its last (oldest) alert.
/// The next page holds the alerts ordered before it, newest first, so a page never repeats or skips one that
/// shares a press millisecond with another. As text (`GET /v1/desk/history?before=`): `PRESSEDMS.SEQ.DEVICE`.
public struct AlertHistoryCursor: Sendable, Hashable, CustomStringConvertible {
    public var pressedMs: Int64
    public var device: String
    public var sequence: Int64

    public init(pressedMs: Int64, device: String, sequence: Int64) {
        self.pressedMs = pressedMs
        self.device = device
        self.sequence = sequence
    }

    /// Parses the text form; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let pressed = Int64(parts[0]), let sequence = Int64(parts[1]), !parts[2].isEmpty
        else { return nil }
        self.init(pressedMs: pressed, device: String(parts[2]), sequence: sequence)
    }

    public var description: String { "\(pressedMs).\(sequence).\(device)" }

    /// After every alert: where the first page starts, so the first and the next pages share one statement.
    public static let newest = AlertHistoryCursor(pressedMs: .max, device: "", sequence: 0)
}

/// What the desk's history asks for: closed alerts (cleared by an operator, or confirmed cleared by the box),
/// newest press first, at most `limit`, optionally only devices whose id contains `deviceContains` and one `kind`.
public struct AlertHistoryQuery: Sendable, Hashable {
    public static let defaultLimit = 200
    public static let maximumLimit = 500

    public var deviceContains: String?
    public var kind: String?
    public var before: AlertHistoryCursor?
    public var limit: Int

    /// Where this page starts: `before`, or after every alert.
    public var start: AlertHistoryCursor { before ?? .newest }

    public init(
        deviceContains: String? = nil, kind: String? = nil, before: AlertHistoryCursor? = nil,
        limit: Int = Self.defaultLimit
    ) {
        self.deviceContains = deviceContains
        self.kind = kind
        self.before = before
        self.limit = limit
    }
}

/// One page of the history: the alerts, and where the next page starts when more follow.
public struct AlertHistoryPage: Sendable {
    public var alerts: [AlertView]
    public var next: AlertHistoryCursor?

    /// The page from what a store read for it: up to `limit + 1` rows newest first, each with its cursor; the
    /// extra row only says that more follow (the next page starts after the last one kept).
    public init(_ rows: [(alert: AlertView, cursor: AlertHistoryCursor)], limit: Int) {
        let kept = rows.prefix(limit)
        alerts = kept.map(\.alert)
        next = rows.count > limit ? kept.last?.cursor : nil
    }
}

extension Dictionary where Value: RangeReplaceableCollection {
    /// Appends `element` to the collection under `key`, making it when absent (grouping a query's rows by alert).
    package mutating func append(_ element: Value.Element, to key: Key) {
        self[key, default: Value()].append(element)
    }
}
