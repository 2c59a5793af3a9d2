import Foundation
import PanicCore
import PanicSigning
import Synchronization

/// A position a device reported: from any of its records that carried a fix.
public struct TrackPoint: Sendable, Hashable, Codable {
    /// The record's sequence number and time (epoch milliseconds).
    public var sequence: Int64
    public var timeMs: Int64
    public var latitude: Double
    public var longitude: Double
    /// How old the fix was when the record was made; the page adds the time since `timeMs`, so the age it shows
    /// is the fix's true age now.
    public var fixAgeMs: Int64

    package init(sequence: Int64, timeMs: Int64, latitude: Double, longitude: Double, fixAgeMs: Int64) {
        self.sequence = sequence
        self.timeMs = timeMs
        self.latitude = latitude
        self.longitude = longitude
        self.fixAgeMs = fixAgeMs
    }
}

extension TrackPoint {
    /// A vehicle's newest position as a point on the map.
    package init(_ position: VehiclePosition) {
        self.init(
            sequence: position.sequence, timeMs: position.timeMs, latitude: position.latitude,
            longitude: position.longitude, fixAgeMs: position.fixAgeMs)
    }
}

/// Where a dispatched responder stands.
public enum DispatchStage: String, Sendable, Codable, CaseIterable {
    case dispatched
    case onScene = "on-scene"
    case stoodDown = "stood-down"

    /// The command that tells the alerting box about this stage (nil: a stand-down changes nothing on the box).
    public var command: CommandAction? {
        switch self {
        case .dispatched: .dispatch
        case .onScene: .arrive
        case .stoodDown: nil
        }
    }

    /// Where the stage stands in a responder's assignment: dispatched, then on scene, then stood down.
    var rank: Int {
        switch self {
        case .dispatched: 0
        case .onScene: 1
        case .stoodDown: 2
        }
    }

    /// The one rule for moving `responder` from its `current` stage on an alert (nil: not assigned yet) to `next`,
    /// which both stores apply inside their transaction: stages only move forward (a responder on scene is never
    /// shown "dispatched" again, nor a stood-down one brought back; assign another responder instead). Returns
    /// whether anything changes (the same stage again changes nothing: no audit line, no command); throws
    /// `DeskError.badRequest` naming both stages for a step back.
    public static func move(
        responder: String, from current: DispatchStage?, to next: DispatchStage
    ) throws(DeskError) -> Bool {
        guard let current else { return true }
        if next == current { return false }
        guard next.rank > current.rank else {
            throw .badRequest(
                "responder '\(responder)' is already \(current.rawValue): a dispatch stage only moves forward "
                    + "(dispatched, on-scene, stood-down), not back to \(next.rawValue)")
        }
        return true
    }
}

/// A responder assigned to an alert, with its live distance.
public struct ResponderView: Sendable, Hashable, Codable {
    public var device: String
    public var name: String
    public var stage: DispatchStage
    /// When the stage was set (epoch milliseconds).
    public var timeMs: Int64
    /// Great-circle distance from the responder's last fix to the alert's current position, in metres.
    public var distanceMeters: Double?
    /// The responder's last fix.
    public var position: TrackPoint?

    package init(
        device: String, name: String, stage: DispatchStage, timeMs: Int64, distanceMeters: Double?,
        position: TrackPoint?
    ) {
        self.device = device
        self.name = name
        self.stage = stage
        self.timeMs = timeMs
        self.distanceMeters = distanceMeters
        self.position = position
    }
}

/// An alert as the desk shows it: the alert, the device's metadata, where it is now and how it got there since the
/// press, what operators did (audit), and who is on the way.
public struct DeskAlert: Sendable, Hashable, Codable {
    public var alert: AlertView
    public var device: DeviceMetadata
    /// The latest position since the press (the press position when none came after).
    public var current: TrackPoint?
    /// Every position since the press, oldest first (at most `DeskTracks.limit`); nil where the trail is not sent
    /// with the row (the push channel's rows carry it in `DeskTrackChunk`s, the history none).
    public var track: [TrackPoint]?
    public var audit: [AuditEntry]
    public var responders: [ResponderView]

    package init(
        alert: AlertView, device: DeviceMetadata, current: TrackPoint?, track: [TrackPoint]?, audit: [AuditEntry],
        responders: [ResponderView]
    ) {
        self.alert = alert
        self.device = device
        self.current = current
        self.track = track
        self.audit = audit
        self.responders = responders
    }
}

/// A device's health from its records: last contact, its last health report, power and tamper.
public struct DeviceHealth: Sendable, Hashable, Codable {
    public var device: String
    public var metadata: DeviceMetadata
    /// When the control room last stored a record from it (epoch milliseconds), nil when never.
    public var lastSeenMs: Int64?
    /// Its last health report, and when it was made.
    public var health: HealthReport?
    public var healthTimeMs: Int64?
    /// The last power record's state, and the last tamper reason while no later `restored` record ended it.
    public var power: PowerState?
    public var tamper: TamperReason?
    /// Records stored, and sequence gaps (from the registry).
    public var records: Int
    public var gaps: [String]

    /// The reason of `last` (the device's last tamper record), unless one of `restored` (its latest restored
    /// records) came after it for the same reason and input: the tamper has ended. Pure.
    public static func openTamper(last: Record?, restored: [Record]) -> TamperReason? {
        guard let last, case .tamper(let reason, let input) = last.body else { return nil }
        let ended = restored.contains {
            $0.sequence > last.sequence && $0.body == .restored(reason: reason, input: input)
        }
        return ended ? nil : reason
    }
}

extension ControlRoom {
    package static func decode(_ envelope: String) -> Record? {
        guard let parsed = try? Envelope(envelope) else { return nil }
        return try? Record.decode(json: parsed.payload)
    }

    package static func point(_ record: Record) -> TrackPoint? {
        record.fix.map {
            TrackPoint(
                sequence: record.sequence, timeMs: record.time.epochMilliseconds, latitude: $0.latitude,
                longitude: $0.longitude, fixAgeMs: $0.ageMilliseconds)
        }
    }

    /// The last record of `kind` from `device`.
    func lastRecord(device: String, kind: RecordKind) async throws -> Record? {
        try await store.latestEnvelopes(device: device, kind: kind, limit: 1).first.flatMap(Self.decode)
    }

    /// Assigns (or moves to a new stage) a responder on an alert; written to the audit log, and the stage goes to
    /// the alerting box as a signed `dispatch` or `arrive` command (its LED changes pattern), in one transaction.
    public func dispatch(
        device: String, alert: String, responder: String, stage: DispatchStage, by account: DeskAccount
    ) async throws {
        try await store.dispatch(
            device: device, alert: alert, responder: responder, stage: stage, by: account, now: wallClock(),
            issue: issuer)
        changes.publish(ControlRoomChange([.dispatches, .audit]))
    }

    /// Responders registered at the control room, each with its last position (for the dispatch list): the
    /// metadata and the positions in one query each, however many responders there are.
    public func responderDevices() async throws -> [ResponderView] {
        let responders = try await store.allMetadata().filter(\.value.responder).sorted(by: { $0.key < $1.key })
        let positions = try await store.positions(devices: responders.map(\.key)).mapValues(TrackPoint.init)
        return responders.map { entry in
            ResponderView(
                device: entry.key, name: entry.value.name, stage: .stoodDown, timeMs: 0, distanceMeters: nil,
                position: positions[entry.key])
        }
    }

    /// Haversine distance in metres.
    package static func distance(_ a: TrackPoint, _ b: TrackPoint) -> Double {
        let radius = 6_371_000.0
        let (lat1, lat2) = (a.latitude * .pi / 180, b.latitude * .pi / 180)
        let dLat = lat2 - lat1
        let dLon = (b.longitude - a.longitude) * .pi / 180
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(lat1) * cos(lat2) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * radius * asin(min(1, sqrt(h)))
    }

    /// Per-device health from the stored records, every device (page by page).
    public func health() async throws -> [DeviceHealth] { try await allPages { $0.health } }
}
