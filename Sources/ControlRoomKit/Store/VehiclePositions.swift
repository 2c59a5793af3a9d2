import PanicCore

/// Where a vehicle was last seen: the fix of the newest record (by sequence number) that carried one, whatever its
/// kind — a position report, a heartbeat or an alert. The desk's fleet layer draws one dot per vehicle from these,
/// and follows them with `changed`, a counter the store bumps on every write, so a page asks only for what moved.
public struct VehiclePosition: Sendable, Hashable {
    public var device: String
    /// The sequence number of the record the fix came from: a late record from a backlog never moves a vehicle
    /// back to where it was.
    public var sequence: Int64
    /// The record's time (epoch milliseconds).
    public var timeMs: Int64
    public var latitude: Double
    public var longitude: Double
    /// Course over ground in degrees, when the receiver gave one.
    public var course: Double?
    /// How old the fix was when the record was made (milliseconds).
    public var fixAgeMs: Int64
    /// The store's change counter when this row was last written (0 before it is stored).
    public var changed: Int64
    /// The vehicle's name on the desk (its metadata), read with the position; empty when it has none.
    public var name = ""

    public init(
        device: String, sequence: Int64, timeMs: Int64, latitude: Double, longitude: Double, course: Double? = nil,
        fixAgeMs: Int64 = 0, changed: Int64 = 0
    ) {
        self.device = device
        self.sequence = sequence
        self.timeMs = timeMs
        self.latitude = latitude
        self.longitude = longitude
        self.course = course
        self.fixAgeMs = fixAgeMs
        self.changed = changed
    }

    /// The position `record` gives its vehicle, nil when it carries no usable fix.
    public init?(_ record: Record) {
        guard let fix = record.fix, fix.latitude.isFinite, fix.longitude.isFinite, abs(fix.latitude) <= 90,
            abs(fix.longitude) <= 180
        else { return nil }
        self.init(
            device: record.device, sequence: record.sequence, timeMs: record.time.epochMilliseconds,
            latitude: fix.latitude, longitude: fix.longitude, course: fix.course.flatMap { $0.isFinite ? $0 : nil },
            fixAgeMs: max(0, fix.ageMilliseconds))
    }

    /// The newest position of each vehicle among `positions` (highest sequence number), in device order: what one
    /// write stores, since a store keeps one row per vehicle and a batch may carry several fixes of one box.
    public static func newest(_ positions: some Sequence<VehiclePosition>) -> [VehiclePosition] {
        var newest: [String: VehiclePosition] = [:]
        for position in positions where (newest[position.device]?.sequence ?? .min) < position.sequence {
            newest[position.device] = position
        }
        return newest.values.sorted { $0.device < $1.device }
    }
}

/// One page of the fleet's positions that changed after a cursor (`GET /v1/desk/vehicles?after=`).
public struct VehiclePositionPage: Sendable {
    /// Most positions one page carries (a 10,000-vehicle state loads in a few pages).
    public static let maximumLimit = 5000

    public var positions: [VehiclePosition]
    /// Whether more changed positions follow (ask again with `cursor`).
    public var more: Bool

    public init(positions: [VehiclePosition], more: Bool) {
        self.positions = positions
        self.more = more
    }

    /// The page from what a store read for it: up to `limit + 1` rows in change order, the extra row only saying
    /// that more follow.
    public init(_ rows: [VehiclePosition], limit: Int) {
        self.init(positions: Array(rows.prefix(limit)), more: rows.count > limit)
    }

    /// Where the next request starts: the last position's change counter, or `after` itself when nothing changed.
    public func cursor(after: Int64) -> Int64 { positions.last?.changed ?? after }
}
