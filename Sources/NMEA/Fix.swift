import PanicCore

/// Satellites counted per constellation.
public struct ConstellationCounts: Sendable, Hashable {
    private var counts = (0, 0, 0, 0, 0, 0, 0, 0)

    public init() {}

    /// The count for one constellation.
    public subscript(constellation: Constellation) -> Int {
        get {
            switch constellation {
            case .gps: counts.0
            case .glonass: counts.1
            case .galileo: counts.2
            case .beidou: counts.3
            case .qzss: counts.4
            case .navic: counts.5
            case .sbas: counts.6
            case .other: counts.7
            }
        }
        set {
            switch constellation {
            case .gps: counts.0 = newValue
            case .glonass: counts.1 = newValue
            case .galileo: counts.2 = newValue
            case .beidou: counts.3 = newValue
            case .qzss: counts.4 = newValue
            case .navic: counts.5 = newValue
            case .sbas: counts.6 = newValue
            case .other: counts.7 = newValue
            }
        }
    }

    /// The sum over every constellation.
    public var total: Int { Constellation.allCases.reduce(0) { $0 + self[$1] } }

    public static func == (lhs: ConstellationCounts, rhs: ConstellationCounts) -> Bool {
        Constellation.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }

    public func hash(into hasher: inout Hasher) {
        for constellation in Constellation.allCases { hasher.combine(self[constellation]) }
    }
}

/// One epoch's merged fix: what the receiver said about one instant, and when we heard it.
public struct GNSSFix: Sendable, Hashable {
    /// The gpsd TPV mode.
    public enum Mode: Int, Sendable, Hashable, Comparable {
        case unknown = 0, noFix = 1, twoD = 2, threeD = 3
        public static func < (lhs: Mode, rhs: Mode) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The receiver's UTC date, as reported (never corrected for GPS week rollover).
    public var date: UTCDate?
    /// The receiver's UTC time of day.
    public var time: UTCTime?
    /// The date is earlier than the tracker's earliest plausible date: probably a GPS week rollover bug.
    public var dateSuspect = false
    public var latitude: Double?
    public var longitude: Double?
    /// Altitude above mean sea level, metres.
    public var altitudeMSL: Double?
    /// Geoid separation (ellipsoid minus mean sea level), metres.
    public var geoidSeparation: Double?
    /// Speed over ground, metres per second.
    public var speed: Double?
    /// Course over ground, degrees true.
    public var track: Double?
    /// Magnetic variation, degrees (east positive).
    public var magneticVariation: Double?
    public var mode = Mode.unknown
    public var quality = FixQuality.none
    /// Satellites used in the solution, as GGA/GNS report them.
    public var satellitesUsed: Int?
    /// Satellites used, per constellation (from GSA).
    public var usedByConstellation = ConstellationCounts()
    /// Satellites in view, per constellation (from GSV).
    public var inViewByConstellation = ConstellationCounts()
    public var hdop: Double?
    public var pdop: Double?
    public var vdop: Double?
    /// When the epoch's last sentence arrived, on the monotonic clock.
    public var receivedAt = MonotonicInstant.zero

    public init() {}

    /// Altitude above the WGS84 ellipsoid, when both MSL altitude and geoid separation are known.
    public var altitudeHAE: Double? {
        guard let altitudeMSL, let geoidSeparation else { return nil }
        return altitudeMSL + geoidSeparation
    }

    /// Whether this epoch carries a position (2D or 3D).
    public var hasPosition: Bool { mode >= .twoD && latitude != nil && longitude != nil }

    /// How old this fix is at `now`.
    public func age(at now: MonotonicInstant) -> Duration { receivedAt.duration(to: now) }
}

extension GNSSFix {
    /// Whether this fix is older than `threshold` at `now`: a stale fix is still sent, but says it is stale.
    public func isStale(at now: MonotonicInstant, after threshold: Duration) -> Bool { age(at: now) > threshold }
}
