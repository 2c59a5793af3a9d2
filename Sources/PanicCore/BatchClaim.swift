/// What a device signs to prove that a `POST /v1/records` request is its own: the request's contents and a
/// fresh time and nonce. Its compact JWS (signed with the device key) is the batch's `proof`.
///
/// The control room takes command acknowledgements, and answers with commands and alert states, only for a
/// request whose claim verifies with the key registered for `device`, names the batch's device, acks and
/// envelopes, is within `BatchClaim.freshness` of its own clock, and whose nonce it has not seen.
public struct BatchClaim: Sendable, Hashable, Codable {
    /// Always `batch`: keeps a claim from ever reading as a record or a command signed with the same key.
    public var purpose: String
    /// The sending device.
    public var device: String
    /// When the device signed the request (its wall clock, corrected by the control room's `serverTime`).
    public var time: RecordTime
    /// 128 random bits, base64url; a nonce is taken once.
    public var nonce: String
    /// Exactly the batch's `commandAcks`.
    public var commandAcks: [String]
    /// Exactly the batch's `commandRefusals` (nil when it has none).
    public var commandRefusals: [CommandRefusalReport]?
    /// SHA-256 (base64url) of the batch's envelopes joined with newlines (`BatchProof.digest`).
    public var envelopes: String

    /// The only `purpose` a claim may have.
    public static let batchPurpose = "batch"
    /// How far a claim's time may be from the control room's clock (either way).
    public static let freshness: Duration = .seconds(120)

    public init(
        device: String, time: RecordTime, nonce: String, commandAcks: [String],
        commandRefusals: [CommandRefusalReport]? = nil, envelopes: String
    ) {
        purpose = BatchClaim.batchPurpose
        self.device = device
        self.time = time
        self.nonce = nonce
        self.commandAcks = commandAcks
        self.commandRefusals = commandRefusals
        self.envelopes = envelopes
    }
}

/// Why the control room did not take a request as the device's own. The raw values are the wire's words.
public enum BatchProofRefusal: String, Error, Sendable, Hashable, Codable, CaseIterable {
    /// The batch carries no proof (a box older than the proof, or someone else).
    case missing
    /// No device with the batch's id is registered (or it was removed).
    case unknownDevice = "unknown-device"
    /// The proof is not a compact JWS of a claim.
    case malformed
    /// The proof is not signed with the key registered for the batch's device.
    case badSignature = "bad-signature"
    /// The signed claim names other acks, envelopes or another device than the batch carries.
    case bodyMismatch = "body-mismatch"
    /// The claim's time is further than `BatchClaim.freshness` from the control room's clock.
    case stale
    /// The claim's nonce was taken before.
    case replayed
    /// A package download: the device has no unexpired update document naming this package (it was queued for
    /// another device, or never pushed).
    case notQueued = "not-queued"
}

/// The control room's verdict on a request's proof, returned with every answer.
public struct BatchAuthentication: Sendable, Hashable, Codable {
    /// Whether the request was taken as the device's own.
    public var verified: Bool
    /// Why not, when it was not.
    public var refusal: BatchProofRefusal?
    /// The control room's clock when it checked: a box whose claim was `stale` signs with this offset next time.
    public var serverTime: RecordTime
    /// False when the control room did not check the proof because nothing in its answer depended on it: the
    /// request carried no acks and no alert record, and the device had no open alert and no pending command
    /// (`verified` is then false and `refusal` nil: no verdict). Nil from a control room that checks every proof.
    public var checked: Bool?

    public init(verified: Bool, refusal: BatchProofRefusal? = nil, serverTime: RecordTime, checked: Bool? = nil) {
        self.verified = verified
        self.refusal = refusal
        self.serverTime = serverTime
        self.checked = checked
    }

    /// The answer to a request whose proof was not needed (`checked` false).
    public static func unchecked(serverTime: RecordTime) -> BatchAuthentication {
        BatchAuthentication(verified: false, serverTime: serverTime, checked: false)
    }
}
