/// Why a tamper record was made.
public enum TamperReason: String, Sendable, Codable, CaseIterable {
    /// A normally-closed button loop opened for longer than any press: the wire was cut.
    case wireCut = "wire-cut"
    /// The enclosure switch reports the box open.
    case enclosure
}

/// The state a power record reports.
public enum PowerState: String, Sendable, Codable, CaseIterable {
    case lost
    case restored
}

/// The state an ignition record reports.
public enum IgnitionState: String, Sendable, Codable, CaseIterable {
    case on
    case off
}

/// Why the box (re)started, as a `boot` record says.
public enum BootReason: String, Sendable, Codable, CaseIterable {
    /// The previous run ended without its clean-shutdown mark: the power went (or the process was killed).
    case powerCut = "power-cut"
    /// The previous run shut down cleanly (a stop, a restart, an upgrade).
    case cleanRestart = "clean-restart"
    /// The previous run ended without its mark and the watchdog says it reset the board.
    case watchdog
    /// The outbox is new: the box's first start (or its first start on this card).
    case firstStart = "first-start"
    /// The outbox is not new but has no run mark (written by a release before boot records).
    case unknown
}

/// What an input was found in when the box started (a `boot` record's `found`).
public enum InputCondition: String, Sendable, Codable, CaseIterable {
    /// A normally-closed button loop found open: the wire is cut.
    case wireCut = "wire-cut"
    /// A normally-open button found closed: stuck.
    case stuck
    /// The enclosure found open.
    case enclosureOpen = "enclosure-open"
    /// Main power found absent.
    case powerLost = "power-lost"
    /// The ignition found on.
    case ignitionOn = "ignition-on"
}

/// One input's state at boot.
public struct FoundInput: Hashable, Sendable, Codable {
    public var input: String
    public var state: InputCondition

    public init(input: String, state: InputCondition) {
        self.input = input
        self.state = state
    }
}

/// What a `boot` record says.
public struct BootReport: Hashable, Sendable, Codable {
    /// Why the previous run ended.
    public var reason: BootReason
    /// How long the box was down (the previous run's last record or its clean stop → this start), when known.
    public var downMilliseconds: Int64?
    /// The inputs found in a fault or alert state at start (wire cut, stuck, enclosure open, power absent,
    /// ignition on), in board order; faults still present from before the restart are reported here, not as new
    /// alerts.
    public var found: [FoundInput]

    public init(reason: BootReason, downMilliseconds: Int64? = nil, found: [FoundInput] = []) {
        self.reason = reason
        self.downMilliseconds = downMilliseconds
        self.found = found
    }

    enum CodingKeys: String, CodingKey {
        case reason
        case downMilliseconds = "downMs"
        case found
    }
}

/// The box's own health, carried by `health` records.
public struct HealthReport: Hashable, Sendable, Codable {
    /// Records not yet delivered to every backend.
    public var queueDepth: Int
    /// Age of the oldest undelivered record in milliseconds, or nil when nothing waits.
    public var oldestUndeliveredAgeMilliseconds: Int64?
    /// Age of the last GNSS fix in milliseconds, or nil when there has been none.
    public var fixAgeMilliseconds: Int64?
    /// Names of inputs that are faulty (stuck, cut), empty when all are fine.
    public var inputFaults: [String]
    /// Free bytes on the outbox's filesystem, when known.
    public var diskFreeBytes: Int64?
    /// Records the outbox dropped (oldest undelivered positions) since the previous health record.
    public var droppedRecords: Int
    /// Store faults since the previous health record (e.g. `outbox-corrupt-moved-aside`, `disk-full`).
    public var faults: [String]
    /// The PanicBridge release that made the record (`PanicBridgeVersion.current`); nil in records from
    /// releases before 0.9.0.
    public var software: String?
    /// The version of the remote configuration the box runs (docs/configuration.md → *Remote configuration*);
    /// nil when it runs its local file alone.
    public var configVersion: Int?

    public init(
        queueDepth: Int = 0, oldestUndeliveredAgeMilliseconds: Int64? = nil, fixAgeMilliseconds: Int64? = nil,
        inputFaults: [String] = [], diskFreeBytes: Int64? = nil, droppedRecords: Int = 0, faults: [String] = [],
        software: String? = PanicBridgeVersion.current, configVersion: Int? = nil
    ) {
        self.queueDepth = queueDepth
        self.oldestUndeliveredAgeMilliseconds = oldestUndeliveredAgeMilliseconds
        self.fixAgeMilliseconds = fixAgeMilliseconds
        self.inputFaults = inputFaults
        self.diskFreeBytes = diskFreeBytes
        self.droppedRecords = droppedRecords
        self.faults = faults
        self.software = software
        self.configVersion = configVersion
    }

    enum CodingKeys: String, CodingKey {
        case queueDepth
        case oldestUndeliveredAgeMilliseconds = "oldestUndeliveredAgeMs"
        case fixAgeMilliseconds = "fixAgeMs"
        case inputFaults, diskFreeBytes, droppedRecords, faults, software, configVersion
    }
}

/// What a record says beyond the common fields; its case decides the record's kind.
public enum RecordBody: Hashable, Sendable {
    /// A panic button was pressed (`input` names the board input).
    case emergency(input: String)
    /// The assistance button was pressed.
    case help(input: String)
    /// The alert whose record id is `alert` was cleared; `by` says who cleared it (e.g. `control-room`).
    case cleared(alert: String, by: String)
    /// Tampering on `input`.
    case tamper(reason: TamperReason, input: String)
    /// Main power changed.
    case power(state: PowerState, input: String?)
    /// A tracking position (the fix itself is the record's `fix`).
    case position
    /// A heartbeat.
    case health(HealthReport)
    /// The box started.
    case boot(BootReport)
    /// A tamper condition on `input` ended (`reason` says which: the loop closed again, the enclosure shut).
    case restored(reason: TamperReason, input: String)
    /// The ignition changed.
    case ignition(state: IgnitionState, input: String)

    /// The kind this body belongs to.
    public var kind: RecordKind {
        switch self {
        case .emergency: .emergency
        case .help: .help
        case .cleared: .cleared
        case .tamper: .tamper
        case .power: .power
        case .position: .position
        case .health: .health
        case .boot: .boot
        case .restored: .restored
        case .ignition: .ignition
        }
    }
}

/// What the producer hands the outbox: everything but the chain fields, which the outbox assigns when it
/// commits (sequence number, previous hash) so they can never repeat or fork.
public struct RecordDraft: Hashable, Sendable {
    /// The record's UUID (lower-case text), chosen when the event happened so retries keep it.
    public var id: String
    /// Wall-clock time of the event.
    public var time: RecordTime
    /// Where `time` came from.
    public var timeSource: TimeSource
    /// The last fix and its age, or nil when there is none.
    public var fix: RecordFix?
    /// The kind-specific content.
    public var body: RecordBody
    /// The radio, supply and ignition readings when the record was made (nil: none known).
    public var telemetry: Telemetry?

    public init(
        id: String, time: RecordTime, timeSource: TimeSource, fix: RecordFix?, body: RecordBody,
        telemetry: Telemetry? = nil
    ) {
        self.id = id
        self.time = time
        self.timeSource = timeSource
        self.fix = fix
        self.body = body
        self.telemetry = telemetry
    }
}

/// One entry of a device's signed, append-only stream: the JWS payload.
///
/// JSON field names are stable and documented in docs/records.md.
public struct Record: Hashable, Sendable, Codable {
    /// Format version of the payload (1).
    public var version: Int
    /// The device's id (derived from its key; see `panicd identity`).
    public var device: String
    /// Per-device sequence number, from 1, never repeated.
    public var sequence: Int64
    /// The record's UUID.
    public var id: String
    /// SHA-256 of the previous record's envelope (its compact JWS text), base64url without padding; nil for
    /// sequence 1.
    public var previousHash: String?
    /// Wall-clock time of the event.
    public var time: RecordTime
    /// Where `time` came from.
    public var timeSource: TimeSource
    /// The last fix and its age, or nil.
    public var fix: RecordFix?
    /// The kind-specific content.
    public var body: RecordBody
    /// The radio, supply and ignition readings when the record was made; nil (and absent from the JSON) when none
    /// was known, as in every record from earlier releases.
    public var telemetry: Telemetry?

    /// The record's kind (from its body).
    public var kind: RecordKind { body.kind }

    /// The current payload format version.
    public static let currentVersion = 1

    public init(device: String, sequence: Int64, previousHash: String?, draft: RecordDraft) {
        version = Record.currentVersion
        self.device = device
        self.sequence = sequence
        self.previousHash = previousHash
        id = draft.id
        time = draft.time
        timeSource = draft.timeSource
        fix = draft.fix
        body = draft.body
        telemetry = draft.telemetry.flatMap { $0.isEmpty ? nil : $0 }
    }

    enum CodingKeys: String, CodingKey {
        case version = "v"
        case kind, device
        case sequence = "seq"
        case id
        case previousHash = "prev"
        case time, timeSource, fix, body, telemetry
    }

    enum BodyKeys: String, CodingKey {
        case input, alert, by, reason, state
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        device = try container.decode(String.self, forKey: .device)
        sequence = try container.decode(Int64.self, forKey: .sequence)
        id = try container.decode(String.self, forKey: .id)
        previousHash = try container.decodeIfPresent(String.self, forKey: .previousHash)
        time = try container.decode(RecordTime.self, forKey: .time)
        timeSource = try container.decode(TimeSource.self, forKey: .timeSource)
        fix = try container.decodeIfPresent(RecordFix.self, forKey: .fix)
        telemetry = try container.decodeIfPresent(Telemetry.self, forKey: .telemetry)
        let kind = try container.decode(RecordKind.self, forKey: .kind)
        switch kind {
        case .health:
            body = .health(try container.decode(HealthReport.self, forKey: .body))
        case .boot:
            body = .boot(try container.decode(BootReport.self, forKey: .body))
        case .position:
            body = .position
        default:
            let fields = try container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            switch kind {
            case .emergency: body = .emergency(input: try fields.decode(String.self, forKey: .input))
            case .help: body = .help(input: try fields.decode(String.self, forKey: .input))
            case .cleared:
                body = .cleared(
                    alert: try fields.decode(String.self, forKey: .alert),
                    by: try fields.decode(String.self, forKey: .by))
            case .tamper:
                body = .tamper(
                    reason: try fields.decode(TamperReason.self, forKey: .reason),
                    input: try fields.decode(String.self, forKey: .input))
            case .power:
                body = .power(
                    state: try fields.decode(PowerState.self, forKey: .state),
                    input: try fields.decodeIfPresent(String.self, forKey: .input))
            case .restored:
                body = .restored(
                    reason: try fields.decode(TamperReason.self, forKey: .reason),
                    input: try fields.decode(String.self, forKey: .input))
            case .ignition:
                body = .ignition(
                    state: try fields.decode(IgnitionState.self, forKey: .state),
                    input: try fields.decode(String.self, forKey: .input))
            case .position, .health, .boot:
                throw DecodingError.dataCorruptedError(
                    forKey: .kind, in: container, debugDescription: "body of \(kind.rawValue) decoded twice")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(kind, forKey: .kind)
        try container.encode(device, forKey: .device)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(id, forKey: .id)
        // Explicit nulls: a reader sees "no previous record" and "no fix" rather than a missing field.
        try container.encode(previousHash, forKey: .previousHash)
        try container.encode(time, forKey: .time)
        try container.encode(timeSource, forKey: .timeSource)
        try container.encode(fix, forKey: .fix)
        // Absent, not null, when nothing was measured: a record without readings stays byte-for-byte what
        // earlier releases made.
        try container.encodeIfPresent(telemetry, forKey: .telemetry)
        switch body {
        case .emergency(let input), .help(let input):
            var fields = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            try fields.encode(input, forKey: .input)
        case .cleared(let alert, let by):
            var fields = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            try fields.encode(alert, forKey: .alert)
            try fields.encode(by, forKey: .by)
        case .tamper(let reason, let input), .restored(let reason, let input):
            var fields = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            try fields.encode(reason, forKey: .reason)
            try fields.encode(input, forKey: .input)
        case .power(let state, let input):
            var fields = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            try fields.encode(state, forKey: .state)
            try fields.encodeIfPresent(input, forKey: .input)
        case .position:
            _ = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
        case .health(let report):
            try container.encode(report, forKey: .body)
        case .boot(let report):
            try container.encode(report, forKey: .body)
        case .ignition(let state, let input):
            var fields = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .body)
            try fields.encode(state, forKey: .state)
            try fields.encode(input, forKey: .input)
        }
    }
}

/// Turns a record into its signed envelope. The outbox calls it inside its commit transaction, so the chain
/// fields and the signature are durable together; PanicSigning provides the Ed25519/JWS implementation.
public protocol RecordSealing: Sendable {
    /// The device id the sealer signs for; records it seals carry it.
    var deviceID: String { get }
    /// Signs `record`, returning its envelope text and the envelope's SHA-256 (the next record's `prev`).
    func seal(_ record: Record) throws -> SealedRecord
}

/// A signed record: the envelope that is stored and sent, and its chain hash.
public struct SealedRecord: Hashable, Sendable {
    /// The compact JWS text.
    public var envelope: String
    /// SHA-256 of `envelope`'s bytes, base64url without padding.
    public var hash: String

    public init(envelope: String, hash: String) {
        self.envelope = envelope
        self.hash = hash
    }
}
