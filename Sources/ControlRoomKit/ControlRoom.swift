import Foundation
import Logging
import PanicCore
import PanicSigning
import Synchronization

/// Errors of control-room operations, each naming what was wrong.
public enum ControlRoomError: Error, Equatable, CustomStringConvertible {
    /// No device with that id is registered.
    case unknownDevice(String)
    /// A device with that id or key is already registered.
    case duplicateDevice(String)
    /// The public key text is neither a JWK nor a base64url Ed25519 key.
    case badPublicKey(String)
    /// No such alert.
    case unknownAlert(device: String, alert: String)
    /// The operator action does not fit the alert's state (e.g. accepting a cleared alert).
    case wrongState(alert: String, state: ControlRoomAlertState, action: CommandAction)
    /// The control room was opened without its key, so it cannot sign commands.
    case noSigningKey

    public var description: String {
        switch self {
        case .unknownDevice(let id): "no device '\(id)' is registered"
        case .duplicateDevice(let id): "device '\(id)' (or its key) is already registered"
        case .badPublicKey(let text):
            "'\(text.prefix(60))' is not an Ed25519 public key (give a JWK or the 32-byte key in base64url)"
        case .unknownAlert(let device, let alert): "no alert \(alert) from device \(device)"
        case .wrongState(let alert, let state, let action):
            "cannot \(action.rawValue) alert \(alert): it is \(state.rawValue)"
        case .noSigningKey: "the control room was opened without its key (--key), so it cannot sign commands"
        }
    }
}

/// A registered device, as `controlroom devices list` shows it.
public struct RegisteredDevice: Sendable, Hashable, Codable {
    /// The device id.
    public var id: String
    /// Its public key's RFC 7638 thumbprint (the JWS `kid` of its records).
    public var keyID: String
    /// Its public JWK.
    public var jwk: String
    /// Records stored from it.
    public var records: Int
    /// Sequence numbers never received (between 1 and the highest received), as `from-to` ranges.
    public var gaps: [String]
    /// Chain findings (forks, broken links) recorded for it.
    public var findings: [String]

    public init(id: String, keyID: String, jwk: String, records: Int, gaps: [String], findings: [String]) {
        self.id = id
        self.keyID = keyID
        self.jwk = jwk
        self.records = records
        self.gaps = gaps
        self.findings = findings
    }
}

/// An alert as the operator page shows it.
public struct AlertView: Sendable, Hashable, Codable {
    /// The alert's record id.
    public var id: String
    /// The device that raised it.
    public var device: String
    /// Its sequence number in the device's stream.
    public var sequence: Int64
    /// `emergency`, `help` or `tamper`.
    public var kind: String
    /// The board input that raised it, when the record says.
    public var input: String?
    /// When the button was pressed (the record's time), RFC 3339.
    public var pressed: String
    /// Where that time came from (`gnss` or `system`).
    public var timeSource: String
    /// Milliseconds since the press, at the time of the answer.
    public var sincePressMs: Int64
    /// Latitude and longitude of the last fix, when there was one.
    public var latitude: Double?
    public var longitude: Double?
    /// The fix's age when the alert was made, in milliseconds; nil without a fix.
    public var fixAgeMs: Int64?
    /// Where it stands: open, acknowledged (help on the way) or cleared.
    public var state: ControlRoomAlertState
    /// Whether the device has confirmed the clear with a `cleared` record.
    public var deviceCleared: Bool
}

/// The reference control room: a device registry (`+Registry`), a record intake that verifies and deduplicates
/// (`+Intake`), alerts with operator actions and signed commands back to the devices (`+Commands`), and the
/// queries the operator page and the simulator read (`+Queries`), over a `ControlRoomStore` (SQLite for one
/// process, PostgreSQL for several). Thread-safe; the store keeps what every instance must agree on.
public final class ControlRoom: Sendable {
    /// Where the state lives.
    public let store: any ControlRoomStore
    /// Rejections, aggregated per batch and rate-limited before they reach the log (its own lock).
    let rejectionLog = Mutex(RejectionLog())
    /// The most a batch may carry (see `IntakeLimits`).
    public let limits: IntakeLimits
    let signer: CommandSigner?
    package let wallClock: @Sendable () -> RecordTime
    package let logger: Logger
    /// Record outcomes, batch latency, database errors (see `ControlRoomMetrics`).
    public let metrics: ControlRoomMetrics
    /// Batches pending ingests into group commits (see `IngestQueue`).
    let ingestQueue: IngestQueue
    /// How long a command stays valid after it is issued; a device offline longer gets a fresh one.
    public let commandLifetime: Duration
    /// The one change stream: every commit that changes what an operator sees is published here, once (records
    /// stored, operator actions, dispatches, metadata, rollouts); the desk's push channel subscribes.
    public let changes = ControlRoomChanges()
    /// The control room's public key, which devices pin (nil when opened without a key, for registry work).
    public var identity: DeviceIdentity? { signer?.identity }

    /// Opens (creating if needed) the control room's SQLite database at `path`. Without a `key` the registry and
    /// the queries work, but nothing can be signed (operator actions and command reissues throw).
    public convenience init(
        path: String, key: DeviceKey?, commandLifetime: Duration = .seconds(300), limits: IntakeLimits = IntakeLimits(),
        wallClock: @escaping @Sendable () -> RecordTime = RecordTime.systemNow, logger: Logger,
        metrics: ControlRoomMetrics = ControlRoomMetrics()
    ) throws {
        self.init(
            store: try SQLiteControlRoomStore(path: path), key: key, commandLifetime: commandLifetime, limits: limits,
            wallClock: wallClock, logger: logger, metrics: metrics)
    }

    /// A control room over `store`.
    public init(
        store: any ControlRoomStore, key: DeviceKey?, commandLifetime: Duration = .seconds(300),
        limits: IntakeLimits = IntakeLimits(),
        wallClock: @escaping @Sendable () -> RecordTime = RecordTime.systemNow, logger: Logger,
        metrics: ControlRoomMetrics = ControlRoomMetrics()
    ) {
        self.store = store
        self.metrics = metrics
        self.limits = limits
        signer = key.map(CommandSigner.init(key:))
        self.commandLifetime = commandLifetime
        self.wallClock = wallClock
        self.logger = logger
        ingestQueue = IngestQueue(store: store)
    }
}

extension RecordTime {
    /// The system's wall clock now.
    public static func systemNow() -> RecordTime {
        RecordTime(epochMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
