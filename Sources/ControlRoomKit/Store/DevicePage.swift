import Foundation
import PanicCore

/// Which page of the registry a device list asks for: the devices whose id comes after `after`, at most `limit`, in
/// id order. Every device list (`GET /v1/devices`, `GET /v1/desk/health`) is paged: a state's 10,000 boxes are
/// never one answer unasked.
public struct DevicePageRequest: Sendable, Hashable {
    /// Devices per page when the request names no `limit`.
    public static let defaultLimit = 200
    /// The most devices one page may hold.
    public static let maxLimit = 1000

    public var after: String?
    public var limit: Int

    public init(after: String? = nil, limit: Int = DevicePageRequest.defaultLimit) {
        self.after = after
        self.limit = limit
    }

    /// The page a query string asks for (`after`, `limit`), or `DeskError.badRequest` naming the bad value.
    public static func parse(after: String?, limit text: String?) -> Result<DevicePageRequest, DeskError> {
        let after = after.flatMap { $0.isEmpty ? nil : $0 }
        guard let text, !text.isEmpty else { return .success(DevicePageRequest(after: after)) }
        guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
            return .failure(
                .badRequest("limit must be a whole number from 1 to \(Self.maxLimit) devices per page, not '\(text)'"))
        }
        return .success(DevicePageRequest(after: after, limit: value))
    }
}

/// The rows one page of devices is decided over, read by a store in a fixed number of queries however many devices
/// and records there are (never one query per device): the registry rows, one aggregate per device over its
/// records, the gap ranges, the findings, the latest health, power and tamper records (and the `restored` ones
/// after that tamper), and the metadata. `DevicePage` turns them into what the desk shows.
public struct DevicePageRows: Sendable {
    /// A registry row.
    public struct Registered: Sendable, Hashable {
        public var id: String
        public var keyID: String
        public var jwk: String
        public init(id: String, keyID: String, jwk: String) {
            self.id = id
            self.keyID = keyID
            self.jwk = jwk
        }
    }

    /// One device's aggregate over its stored records.
    public struct Counts: Sendable, Hashable {
        public var records: Int
        public var lastSeenMs: Int64?
        public init(records: Int, lastSeenMs: Int64?) {
            self.records = records
            self.lastSeenMs = lastSeenMs
        }
    }

    /// A stored record the health view reads (its kind, sequence number and envelope).
    public struct Latest: Sendable, Hashable {
        public var device: String
        public var kind: String
        public var sequence: Int64
        public var envelope: String
        public init(device: String, kind: String, sequence: Int64, envelope: String) {
            self.device = device
            self.kind = kind
            self.sequence = sequence
            self.envelope = envelope
        }
    }

    /// The page's devices, in id order.
    public var devices: [Registered] = []
    public var counts: [String: Counts] = [:]
    /// Gap ranges per device, ascending.
    public var gaps: [String: [ClosedRange<Int64>]] = [:]
    /// Findings in the order found.
    public var findings: [FindingRow] = []
    public var latest: [Latest] = []
    public var metadata: [String: DeviceMetadata] = [:]
    /// Whether more devices follow this page.
    public var more = false

    public init() {}

    /// The id range the page's other queries cover (first and last id), nil for an empty page.
    public var range: (first: String, last: String)? {
        guard let first = devices.first?.id, let last = devices.last?.id else { return nil }
        return (first, last)
    }

    /// The kinds whose latest record the health view reads (`latest`).
    public static let latestKinds: [RecordKind] = [.health, .power, .tamper]
}

/// One page of devices as the desk shows it, decided over `DevicePageRows` (pure: both stores only read the rows).
public struct DevicePage: Sendable {
    public let rows: DevicePageRows

    public init(_ rows: DevicePageRows) { self.rows = rows }

    /// The id to ask for the next page after (`?after=`), nil on the last page.
    public var nextAfter: String? { rows.more ? rows.devices.last?.id : nil }

    /// Every device of the page with its record count, gaps and findings (`GET /v1/devices`).
    public var devices: [RegisteredDevice] {
        var findings: [String: [String]] = [:]
        for row in rows.findings { findings[row.device, default: []].append("\(row.name) seq \(row.sequence)") }
        return rows.devices.map { device in
            RegisteredDevice(
                id: device.id, keyID: device.keyID, jwk: device.jwk, records: rows.counts[device.id]?.records ?? 0,
                gaps: (rows.gaps[device.id] ?? []).map(\.gapText), findings: findings[device.id] ?? [])
        }
    }

    /// Every device of the page with its last contact, last health report, power and open tamper
    /// (`GET /v1/desk/health`).
    public var health: [DeviceHealth] {
        var latest: [String: [RecordKind: Record]] = [:]
        var restored: [String: [Record]] = [:]
        for row in rows.latest {
            guard let kind = RecordKind(rawValue: row.kind), let record = ControlRoom.decode(row.envelope) else {
                continue
            }
            if kind == .restored {
                restored[row.device, default: []].append(record)
            } else if (latest[row.device]?[kind]?.sequence ?? .min) < record.sequence {
                latest[row.device, default: [:]][kind] = record
            }
        }
        return rows.devices.map { device in
            let records = latest[device.id] ?? [:]
            var report: HealthReport?
            if case .health(let value)? = records[.health]?.body { report = value }
            var power: PowerState?
            if case .power(let reported, _)? = records[.power]?.body { power = reported }
            let tamper = DeviceHealth.openTamper(last: records[.tamper], restored: restored[device.id] ?? [])
            return DeviceHealth(
                device: device.id, metadata: rows.metadata[device.id] ?? DeviceMetadata(),
                lastSeenMs: rows.counts[device.id]?.lastSeenMs, health: report,
                healthTimeMs: records[.health]?.time.epochMilliseconds, power: power, tamper: tamper,
                records: rows.counts[device.id]?.records ?? 0, gaps: (rows.gaps[device.id] ?? []).map(\.gapText))
        }
    }
}
