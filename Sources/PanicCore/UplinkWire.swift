/// The body of `POST /v1/records`: a batch of envelopes from one device.
public struct RecordBatch: Sendable, Hashable, Codable {
    /// The sending device's id (the control room answers with this device's alerts and commands).
    public var device: String
    /// Compact JWS envelopes, each one record.
    public var envelopes: [String]
    /// Nonces of commands the device has processed (accepted or refused), so the control room stops resending
    /// them. The control room takes them only from a batch whose `proof` verifies.
    public var commandAcks: [String]
    /// The commands the device refused, each with why (nil or empty: none), so the control room shows and
    /// audits the refusal. A refusal that is final is also in `commandAcks`; one that is not (a forged command,
    /// no pinned key, expired) only here. Taken, like the acks, only from a batch whose `proof` verifies (and
    /// covers them). Absent in batches from boxes older than the report.
    public var commandRefusals: [CommandRefusalReport]?
    /// The device's signature over the request (a compact JWS of a `BatchClaim`, see `BatchProof`): without a
    /// valid one the control room stores the records (each is signed on its own) but neither takes the acks nor
    /// answers with commands or alert states. Absent in batches from boxes older than the proof.
    public var proof: String?

    public init(
        device: String, envelopes: [String], commandAcks: [String] = [], commandRefusals: [CommandRefusalReport]? = nil,
        proof: String? = nil
    ) {
        self.device = device
        self.envelopes = envelopes
        self.commandAcks = commandAcks
        self.commandRefusals = commandRefusals
        self.proof = proof
    }
}

/// A command the device refused: its nonce (read from the command even when its signature did not verify) and
/// the refusal's kind (`forged`, `no-pinned-key`, `wrong-device`, `expired`, `replayed`, `unknown-alert`,
/// `stale`).
public struct CommandRefusalReport: Sendable, Hashable, Codable {
    public var nonce: String
    public var reason: String

    public init(nonce: String, reason: String) {
        self.nonce = nonce
        self.reason = reason
    }

    /// The longest nonce and reason a report may carry (a control room's nonce is 22 characters).
    public static let maximumNonce = 64
    public static let maximumReason = 32

    /// Whether it is within bounds: a nonce of base64url characters and a reason of lower-case letters and `-`.
    public var isWellFormed: Bool {
        let nonceCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        let reasonCharacters = Set("abcdefghijklmnopqrstuvwxyz-")
        return (1...Self.maximumNonce).contains(nonce.count) && nonce.allSatisfy(nonceCharacters.contains)
            && (1...Self.maximumReason).contains(reason.count) && reason.allSatisfy(reasonCharacters.contains)
    }
}

/// What the control room did with one envelope of a batch.
public struct RecordResult: Sendable, Hashable, Codable {
    /// The outcome.
    public enum Status: String, Sendable, Codable {
        /// Verified and stored now.
        case accepted
        /// Already stored earlier (a resend): acknowledged, not stored again.
        case duplicate
        /// Refused; `reason` says why. Resending the same envelope will not help.
        case rejected
    }

    public var status: Status
    /// The record's sequence number, when the envelope could be read.
    public var sequence: Int64?
    /// Why it was rejected (nil unless `status` is `rejected`).
    public var reason: RejectionReason?

    public init(status: Status, sequence: Int64? = nil, reason: RejectionReason? = nil) {
        self.status = status
        self.sequence = sequence
        self.reason = reason
    }

    /// Whether the device may stop sending the record (accepted or duplicate).
    public var isDelivered: Bool { status != .rejected }
}

/// Why the control room refused an envelope. The raw values are the wire's words.
public enum RejectionReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The `kid` names no registered device (perhaps not registered yet: the device keeps the record and retries).
    case unknownDevice = "unknown-device"
    /// The signature does not verify with the registered key, or `alg` is not EdDSA.
    case badSignature = "bad-signature"
    /// Not a compact JWS, or a payload that is not a record.
    case malformed
    /// The record (or the batch) names another device than the key's.
    case deviceMismatch = "device-mismatch"
    /// A different record under a sequence number already stored.
    case fork
    /// A record id already stored under another sequence number.
    case replay
}

/// Where an alert stands at the control room (the operator's side of the lifecycle). The raw values are the
/// wire's words.
public enum ControlRoomAlertState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Received; no operator has acted yet.
    case open
    /// An operator accepted it: help is on the way.
    case acknowledged
    /// An operator cleared it.
    case cleared
}

/// The control room's view of one of the device's alerts.
public struct RemoteAlertState: Sendable, Hashable, Codable {
    /// The alert's record id.
    public var alert: String
    /// Where it stands at the control room.
    public var state: ControlRoomAlertState

    public init(alert: String, state: ControlRoomAlertState) {
        self.alert = alert
        self.state = state
    }
}

/// The answer to `POST /v1/records`.
public struct RecordBatchResponse: Sendable, Hashable, Codable {
    /// The most commands an answer carries: the control room sends a device at most this many (the oldest; the rest
    /// go in later answers, once these are acknowledged), and a box checks at most this many of an answer's
    /// commands, leaving the rest unchecked and unacknowledged (docs/uplink.md → *Commands*).
    public static let maximumCommands = 32
    /// The longest answer a box reads (bytes): results for a full batch, the alerts and `maximumCommands` commands
    /// fit many times over. A longer answer is refused before any of it is decoded.
    public static let maximumBytes = 1 << 20

    /// One result per envelope, in the batch's order.
    public var results: [RecordResult]
    /// The device's alerts the control room has not closed, with their state there.
    public var alerts: [RemoteAlertState]
    /// Signed commands (compact JWS) waiting for the device.
    public var commands: [String]
    /// Whether the control room took the request as the device's own (its `proof`); nil from control rooms older
    /// than the proof. `alerts` and `commands` are empty unless it is verified.
    public var authentication: BatchAuthentication?

    public init(
        results: [RecordResult], alerts: [RemoteAlertState], commands: [String],
        authentication: BatchAuthentication? = nil
    ) {
        self.results = results
        self.alerts = alerts
        self.commands = commands
        self.authentication = authentication
    }
}
