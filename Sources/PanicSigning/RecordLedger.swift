import PanicCore

/// A device key a ledger trusts: the device it is registered to, and its public key.
public struct RegisteredKey: Sendable, Hashable {
    /// The device id records signed with this key must carry.
    public let device: String
    /// The public key.
    public let identity: DeviceIdentity
    /// Its thumbprint (`DeviceIdentity.thumbprint`, the JWS `kid`), computed once.
    public let keyID: String

    public init(device: String, identity: DeviceIdentity) {
        self.device = device
        self.identity = identity
        keyID = identity.thumbprint
    }
}

/// What the rules remember of one stored record.
public struct LedgerEntry: Sendable, Hashable {
    /// The hash of its envelope (`Envelope.hash`): what the next record's `prev` must be.
    public var envelopeHash: String
    /// Its record id.
    public var recordID: String
    /// Its `prev`.
    public var previousHash: String?

    public init(envelopeHash: String, recordID: String, previousHash: String?) {
        self.envelopeHash = envelopeHash
        self.recordID = recordID
        self.previousHash = previousHash
    }
}

/// What `RecordRules` needs to know about what was already stored: the registered keys, and per device the
/// records stored so far. Two sides, in the style of Hummingbird's `PersistDriver` and `MemoryPersistDriver`:
/// `MemoryRecordLedger` (behind `panicd verify`) and the control room's SQLite store.
public protocol RecordLedger {
    /// The key whose RFC 7638 thumbprint is `keyID` (a JWS `kid`), if registered.
    func key(id keyID: String) throws -> RegisteredKey?
    /// The record stored from `device` under `sequence`, if any.
    func entry(device: String, sequence: Int64) throws -> LedgerEntry?
    /// Whether a record with id `recordID` is stored from `device` (under any sequence number).
    func containsRecord(device: String, id recordID: String) throws -> Bool
    /// Stores a record the rules accepted as new: `envelope` is its exact text, `entry` what they remember of it.
    mutating func store(_ record: Record, entry: LedgerEntry, envelope: String) throws
}

/// A ledger in memory: the twin `RecordVerifier` runs on, and a test double.
public struct MemoryRecordLedger: RecordLedger, Sendable {
    private var keys: [String: RegisteredKey] = [:]
    private var streams: [String: [Int64: LedgerEntry]] = [:]
    private var recordIDs: [String: Set<String>] = [:]

    public init(keys: [DeviceIdentity] = []) {
        for key in keys { register(key) }
    }

    /// Trusts `identity` for records of its own device id.
    public mutating func register(_ identity: DeviceIdentity) {
        keys[identity.thumbprint] = RegisteredKey(device: identity.deviceID, identity: identity)
    }

    public func key(id keyID: String) -> RegisteredKey? { keys[keyID] }

    public func entry(device: String, sequence: Int64) -> LedgerEntry? { streams[device]?[sequence] }

    public func containsRecord(device: String, id recordID: String) -> Bool {
        recordIDs[device]?.contains(recordID) ?? false
    }

    public mutating func store(_ record: Record, entry: LedgerEntry, envelope: String) {
        streams[record.device, default: [:]][record.sequence] = entry
        recordIDs[record.device, default: []].insert(record.id)
    }

    /// Devices with stored records, sorted.
    public var devices: [String] { streams.keys.sorted() }

    /// The sequence numbers stored from `device`, ascending.
    public func sequences(of device: String) -> [Int64] { streams[device]?.keys.sorted() ?? [] }
}
