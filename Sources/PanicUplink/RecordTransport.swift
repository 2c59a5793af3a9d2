import Foundation
import PanicCore
import PanicSigning
import PanicStore

/// Which protocol a backend speaks. The delivery loop (`BackendUplink`, `DeliveryStateMachine`: cursor, lanes,
/// backoff, alerts first) is the same for all; only the transport differs.
public enum BackendProtocol: Sendable, Hashable {
    /// PanicBridge's signed JWS batches (`POST /v1/records`), with commands back: `UplinkTransport`.
    case panicBridge
    /// AIS-140 over TCP (or TLS): `AIS140Transport`.
    case ais140(AIS140Options)
    /// Traccar's OsmAnd over HTTP(S): `OsmAndTransport`.
    case osmAnd(OsmAndOptions)

    /// How many backlog batches the protocol keeps in flight while the link works. PanicBridge: two — since the
    /// control room checks one signature per chained run (`RecordRules.authenticate(batch:)`) a batch's intake is
    /// short enough that an alert pressed mid-drain behind two batches was stored within 66-100 ms in uplink-bench
    /// (goal 200 ms; it was 151-215 ms when every record's signature was checked), and the drain is 25-40 % faster
    /// than with one. OsmAnd: four, on parallel keep-alive connections. AIS-140: one session answered in order, one batch.
    public var backlogWindow: Int {
        switch self {
        case .panicBridge: 2
        case .ais140: 1
        case .osmAnd: 4
        }
    }
}

/// An AIS-140 backend's settings.
public struct AIS140Options: Sendable, Hashable {
    public var identity: BoxIdentity
    /// Send only emergencies, as `EPB` packets (AIS-140 deployments send them to another server than tracking);
    /// every other record is settled for this backend without being sent.
    public var emergencyOnly: Bool
    /// What the health packet reports about the box's settings.
    public var health: AIS140.HealthSettings
    /// Use TLS (`tls://host:port`), trusting the backend's `trust` roots.
    public var tls: Bool
    /// How often the box sends a heartbeat on its session while it has nothing else to send.
    public var heartbeat: Duration
    /// Which backend family's frame layouts (`dialect:`): Traccar's (the default) or C-DAC's.
    public var dialect: AIS140.Dialect = .traccar
    /// Whether help requests are sent (as `NR` alert 90 / `EPB,HLP`); false settles them unsent.
    public var sendHelp = true

    /// The heartbeat interval when the configuration names none.
    public static let defaultHeartbeat = Duration.seconds(120)

    public init(
        identity: BoxIdentity, emergencyOnly: Bool = false, health: AIS140.HealthSettings = .init(), tls: Bool = false,
        heartbeat: Duration = AIS140Options.defaultHeartbeat
    ) {
        self.identity = identity
        self.emergencyOnly = emergencyOnly
        self.health = health
        self.tls = tls
        self.heartbeat = heartbeat
    }
}

/// An OsmAnd backend's settings.
public struct OsmAndOptions: Sendable, Hashable {
    /// The device's unique id in Traccar (the IMEI when the configuration has one, else the device id).
    public var deviceID: String
    /// Whether help requests are sent (as `alarm=general`); false settles them unsent.
    public var sendHelp: Bool

    public init(deviceID: String, sendHelp: Bool = true) {
        self.deviceID = deviceID
        self.sendHelp = sendHelp
    }
}

/// A record on its way to a receiver of another protocol, decoded from its envelope.
public struct OutgoingRecord: Sendable, Hashable {
    public var record: Record
    /// Whether it goes out as it happened (made within the outbox's live window) rather than from the backlog.
    public var live: Bool
    /// For a `cleared` record: the kind of the alert it closes (emergency or help), when the outbox still has it.
    public var clearedKind: RecordKind?

    public init(record: Record, live: Bool, clearedKind: RecordKind? = nil) {
        self.record = record
        self.live = live
        self.clearedKind = clearedKind
    }

    /// Whether the record is a help request or the end of one (what `send_help: false` keeps from a backend).
    public var isHelp: Bool { record.body.kind == .help || clearedKind == .help }
}

/// What a receiver acknowledged of one delivery, in its own terms.
public struct ReceiverReport: Sendable, Hashable {
    /// How many of the records, from the first, the receiver acknowledged (or that the protocol does not carry,
    /// which are settled without being sent). The rest stay pending.
    public var acknowledged: Int
    /// Why the rest were not acknowledged; nil when all were.
    public var failure: String?

    public init(acknowledged: Int, failure: String? = nil) {
        self.acknowledged = acknowledged
        self.failure = failure
    }
}

/// Carries records to a receiver that speaks another protocol than PanicBridge's (AIS-140, OsmAnd). There are
/// no commands back and no signatures: what "acknowledged" means is the transport's (docs/uplink.md).
public protocol RecordTransport: Sendable {
    /// Sends `records` in order within `timeout`; never throws: a failure is the report's `failure`, with the
    /// records acknowledged before it counted.
    func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport
    /// Closes connections.
    func shutdown() async throws
    /// How often to show the receiver the box is alive while nothing else is sent (nil: never).
    var keepAliveInterval: Duration? { get }
    /// Shows the receiver the box is alive (AIS-140: login and heartbeat); returns why it failed, or nil.
    func keepAlive(timeout: Duration) async -> String?
    /// Owns the transport's connections (AIS-140: the kept session) until cancelled; the backend runs it beside its
    /// deliveries, so a transport that keeps a session open closes it when the service stops. `deliver` and
    /// `keepAlive` may wait for it.
    func run() async
}

extension RecordTransport {
    public var keepAliveInterval: Duration? { nil }
    public func keepAlive(timeout: Duration) async -> String? { nil }
    public func run() async {}
}

extension StoredRecord {
    /// The record inside the envelope, read without verifying the signature (it is the box's own).
    public func decodedRecord() -> Record? {
        let parts = envelope.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
        return try? Record.decode(json: payload)
    }
}
