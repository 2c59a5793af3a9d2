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

/// The one paging rule of the desk's long lists (the history, every alert, the audit log): a page holds at most
/// `limit` rows (`defaultLimit` unless asked, never more than `maximumLimit`), in the list's order; each row has a
/// cursor that is its whole sort key, so rows sharing a timestamp are neither repeated nor skipped at a page's
/// edge. A store reads up to `limit + 1` rows after the cursor asked for; the extra row only says that more follow,
/// and the next page starts after the last row kept.
public enum Paging {
    public static let defaultLimit = 200
    public static let maximumLimit = 500
    public static let limits = 1...maximumLimit

    /// The rows a page keeps of what a store read for it, and the cursor of the next page (nil on the last).
    public static func page<Row, Cursor>(
        _ rows: [Row], limit: Int, cursor: (Row) -> Cursor
    ) -> (rows: [Row], next: Cursor?) {
        let kept = Array(rows.prefix(limit))
        return (kept, rows.count > limit ? kept.last.map(cursor) : nil)
    }
}

/// What the desk's history asks for: closed alerts (cleared by an operator, or confirmed cleared by the box) —
/// or, with `includeOpen`, every alert (`GET /v1/alerts?all=1`) — newest press first, at most `limit`, optionally
/// only devices whose id contains `deviceContains` and one `kind`.
public struct AlertHistoryQuery: Sendable, Hashable {
    public static let defaultLimit = Paging.defaultLimit
    public static let maximumLimit = Paging.maximumLimit

    public var deviceContains: String?
    public var kind: String?
    public var before: AlertHistoryCursor?
    public var limit: Int
    /// Open alerts too, not only closed ones.
    public var includeOpen: Bool

    /// Where this page starts: `before`, or after every alert.
    public var start: AlertHistoryCursor { before ?? .newest }

    public init(
        deviceContains: String? = nil, kind: String? = nil, before: AlertHistoryCursor? = nil,
        limit: Int = Self.defaultLimit, includeOpen: Bool = false
    ) {
        self.deviceContains = deviceContains
        self.kind = kind
        self.before = before
        self.limit = limit
        self.includeOpen = includeOpen
    }
}

/// One page of the history: the alerts, and where the next page starts when more follow.
public struct AlertHistoryPage: Sendable {
    public var alerts: [AlertView]
    public var next: AlertHistoryCursor?

    /// The page from what a store read for it: up to `limit + 1` rows newest first, each with its cursor
    /// (`Paging`).
    public init(_ rows: [(alert: AlertView, cursor: AlertHistoryCursor)], limit: Int) {
        let page = Paging.page(rows, limit: limit, cursor: \.cursor)
        alerts = page.rows.map(\.alert)
        next = page.next
    }
}

/// What a page of the audit log asks for: entries in the log's order (oldest first, by id), after the entry
/// `after` (a cursor from `X-Next-After`), at most `limit`, optionally of one device and one alert.
public struct AuditQuery: Sendable, Hashable {
    public var device: String?
    public var alert: String?
    /// The id of the last entry of the page before (nil: from the start).
    public var after: Int64?
    public var limit: Int

    public init(device: String? = nil, alert: String? = nil, after: Int64? = nil, limit: Int = Paging.defaultLimit) {
        self.device = device
        self.alert = alert
        self.after = after
        self.limit = limit
    }

    /// Where this page starts: after `after`, or after nothing.
    public var start: Int64 { after ?? 0 }
}

/// One page of the audit log, and the id the next page starts after when more follow.
public struct AuditPage: Sendable {
    public var entries: [AuditEntry]
    public var next: Int64?

    /// The page from up to `limit + 1` entries a store read in id order (`Paging`): an id is unique, so entries
    /// written in one millisecond are neither repeated nor skipped at a page's edge.
    public init(_ entries: [AuditEntry], limit: Int) {
        let page = Paging.page(entries, limit: limit, cursor: \.id)
        self.entries = page.rows
        next = page.next
    }
}

extension Dictionary where Value: RangeReplaceableCollection {
    /// Appends `element` to the collection under `key`, making it when absent (grouping a query's rows by alert).
    package mutating func append(_ element: Value.Element, to key: Key) {
        self[key, default: Value()].append(element)
    }
}
