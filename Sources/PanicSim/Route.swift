import Foundation

/// A bus route: stops (and road-shape points between them) in travel order, read from a data file in
/// `sim/routes/` (CSV: `seq,kind,name,lat,lon`, `#` comment lines carry the source and licence).
public struct Route: Sendable, Equatable {
    /// A point on the route.
    public struct Point: Sendable, Equatable {
        public var name: String?
        public var latitude: Double
        public var longitude: Double
        public var isStop: Bool { name != nil }
    }

    /// A problem in a route file, naming the line.
    public struct FormatError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int
        public var message: String
        public var description: String { "\(path):\(line): \(message)" }
    }

    public var name: String
    public var points: [Point]
    /// Cumulative distance in metres from the first point to each point.
    public let distances: [Double]

    public var length: Double { distances.last ?? 0 }
    public var stops: [Point] { points.filter(\.isStop) }

    public init(name: String, points: [Point]) {
        self.name = name
        self.points = points
        var distances = [0.0]
        for (a, b) in zip(points, points.dropFirst()) { distances.append(distances.last! + Geo.distance(a, b)) }
        self.distances = distances
    }

    /// Reads a route CSV file.
    public static func load(path: String) throws -> Route {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FormatError(path: path, line: 0, message: "cannot read the route file: \(error.localizedDescription)")
        }
        var name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var points: [Point] = []
        var sawHeader = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if line.hasPrefix("# route:") { name = String(line.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                continue
            }
            if !sawHeader {
                guard line == "seq,kind,name,lat,lon" else {
                    throw FormatError(path: path, line: index + 1, message: "expected the header seq,kind,name,lat,lon")
                }
                sawHeader = true
                continue
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5 else {
                throw FormatError(path: path, line: index + 1, message: "expected 5 fields, found \(fields.count)")
            }
            guard let lat = Double(fields[3]), let lon = Double(fields[4]), (-90...90).contains(lat),
                (-180...180).contains(lon)
            else {
                throw FormatError(
                    path: path, line: index + 1, message: "latitude/longitude '\(fields[3]),\(fields[4])' is not valid")
            }
            switch fields[1] {
            case "stop": points.append(Point(name: fields[2], latitude: lat, longitude: lon))
            case "shape": points.append(Point(name: nil, latitude: lat, longitude: lon))
            default:
                throw FormatError(path: path, line: index + 1, message: "kind '\(fields[1])' is neither stop nor shape")
            }
        }
        guard points.count >= 2 else {
            throw FormatError(path: path, line: 0, message: "a route needs at least two points")
        }
        return Route(name: name, points: points)
    }

    /// The position and heading `distance` metres along the route (clamped to its ends).
    public func position(atDistance distance: Double) -> (latitude: Double, longitude: Double, course: Double) {
        let d = min(max(distance, 0), length)
        var index = distances.lastIndex { $0 <= d } ?? 0
        index = min(index, points.count - 2)
        let a = points[index]
        let b = points[index + 1]
        let segment = distances[index + 1] - distances[index]
        let t = segment > 0 ? (d - distances[index]) / segment : 0
        return (
            a.latitude + (b.latitude - a.latitude) * t, a.longitude + (b.longitude - a.longitude) * t, Geo.bearing(a, b)
        )
    }
}

/// Great-circle helpers (WGS84 sphere approximation, good to metres over a city).
enum Geo {
    static let earthRadius = 6_371_000.0

    static func distance(_ a: Route.Point, _ b: Route.Point) -> Double {
        let φ1 = a.latitude * .pi / 180
        let φ2 = b.latitude * .pi / 180
        let Δφ = φ2 - φ1
        let Δλ = (b.longitude - a.longitude) * .pi / 180
        let h = sin(Δφ / 2) * sin(Δφ / 2) + cos(φ1) * cos(φ2) * sin(Δλ / 2) * sin(Δλ / 2)
        return 2 * earthRadius * asin(min(1, sqrt(h)))
    }

    static func bearing(_ a: Route.Point, _ b: Route.Point) -> Double {
        let φ1 = a.latitude * .pi / 180
        let φ2 = b.latitude * .pi / 180
        let Δλ = (b.longitude - a.longitude) * .pi / 180
        let y = sin(Δλ) * cos(φ2)
        let x = cos(φ1) * sin(φ2) - sin(φ1) * cos(φ2) * cos(Δλ)
        let degrees = atan2(y, x) * 180 / .pi
        return degrees < 0 ? degrees + 360 : degrees
    }
}

/// A bus driving a route: cruises between stops, dwells at each, and turns back at the end.
public struct RouteDrive: Sendable {
    /// Where the bus is and what it is doing.
    public struct State: Sendable, Equatable {
        public var latitude: Double
        public var longitude: Double
        /// Degrees true.
        public var course: Double
        /// Metres per second.
        public var speed: Double
        /// The stop the bus is standing at, if any.
        public var stop: String?
    }

    public let route: Route
    /// Cruising speed in m/s (25 km/h is typical for Indian city traffic).
    public let cruiseSpeed: Double
    public let dwellSeconds: Double
    /// The stops' names and distances along the route.
    private let stops: [(name: String, distance: Double)]

    public init(route: Route, cruiseSpeed: Double = 25 / 3.6, dwell: Duration = .seconds(20)) {
        self.route = route
        self.cruiseSpeed = cruiseSpeed
        dwellSeconds = dwell.seconds
        stops = zip(route.points, route.distances).compactMap { point, distance in point.name.map { ($0, distance) } }
    }

    /// How long one direction takes, dwells included.
    public var oneWay: Duration { .seconds(route.length / cruiseSpeed + dwellSeconds * Double(stops.count)) }

    /// Where the bus is `elapsed` after arriving at the first stop; it runs back and forth along the route.
    public func state(at elapsed: Duration) -> State {
        let oneWay = oneWay.seconds
        var t = elapsed.seconds.truncatingRemainder(dividingBy: 2 * oneWay)
        let forward = t < oneWay
        if !forward { t -= oneWay }
        let legs = forward ? stops : stops.reversed().map { ($0.name, route.length - $0.distance) }
        // Measured in the direction of travel: dwell at a stop, then drive to the next.
        var clock = 0.0
        var from = 0.0
        var along = 0.0
        var standingAt: String?
        for stop in legs {
            let drive = (stop.distance - from) / cruiseSpeed
            if t < clock + drive {
                along = from + (t - clock) * cruiseSpeed
                break
            }
            clock += drive
            along = stop.distance
            if t < clock + dwellSeconds {
                standingAt = stop.name
                break
            }
            clock += dwellSeconds
            from = stop.distance
        }
        let position = route.position(atDistance: forward ? along : route.length - along)
        let course = forward ? position.course : (position.course + 180).truncatingRemainder(dividingBy: 360)
        return State(
            latitude: position.latitude, longitude: position.longitude, course: course,
            speed: standingAt == nil ? cruiseSpeed : 0, stop: standingAt)
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
