import Foundation
import Logging
import PanicCore

/// The most one `POST /v1/records` may carry. A real device never comes near: its batches hold at most
/// `batch_size` records (1…1,000, default 100; the uplink's default 200), and a record's envelope is under
/// 1 KiB (about 600 bytes with a fix), so its largest batch is about 1 MiB.
public struct IntakeLimits: Sendable, Hashable {
    /// Bytes of the request body (the JSON batch).
    public var maxBodyBytes: Int
    /// Envelopes per batch.
    public var maxEnvelopes: Int
    /// Bytes of one envelope.
    public var maxEnvelopeBytes: Int
    /// Command acknowledgements per batch.
    public var maxAcks: Int
    /// Envelopes that may fail verification (bad signature, malformed) before the rest of the batch is refused
    /// unread. A device signs its own records, so a genuine batch has none.
    public var verificationFailures: Int

    public init(
        maxBodyBytes: Int = 4 << 20, maxEnvelopes: Int = 2_000, maxEnvelopeBytes: Int = 16 << 10,
        maxAcks: Int = 1_000, verificationFailures: Int = 16
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.maxEnvelopes = maxEnvelopes
        self.maxEnvelopeBytes = maxEnvelopeBytes
        self.maxAcks = maxAcks
        self.verificationFailures = verificationFailures
    }
}

/// Why a whole batch was refused before any of it was stored (the server answers 413 or 422 with this text).
public enum IntakeRefusal: Error, Equatable, CustomStringConvertible {
    /// The body is larger than `maxBodyBytes`.
    case bodyTooLarge(limit: Int)
    /// More envelopes than `maxEnvelopes`.
    case tooManyEnvelopes(Int, limit: Int)
    /// An envelope longer than `maxEnvelopeBytes`.
    case envelopeTooLarge(index: Int, bytes: Int, limit: Int)
    /// More acks than `maxAcks`.
    case tooManyAcks(Int, limit: Int)
    /// More command refusals than `maxAcks`, or one out of bounds (`CommandRefusalReport.isWellFormed`).
    case badRefusals(String)
    /// `failures` envelopes failed verification; the rest were not checked.
    case failedVerification(failures: Int, checked: Int, reason: RejectionReason)

    public var description: String {
        switch self {
        case .bodyTooLarge(let limit): "batch refused: the body is larger than \(limit) bytes"
        case .tooManyEnvelopes(let count, let limit):
            "batch refused: \(count) envelopes, more than the \(limit) a batch may carry"
        case .envelopeTooLarge(let index, let bytes, let limit):
            "batch refused: envelope \(index + 1) is \(bytes) bytes, more than the \(limit) an envelope may be"
        case .tooManyAcks(let count, let limit):
            "batch refused: \(count) command acks, more than the \(limit) a batch may carry"
        case .badRefusals(let why): "batch refused: \(why)"
        case .failedVerification(let failures, let checked, let reason):
            "batch refused: \(failures) of the first \(checked) envelopes failed verification (\(reason.rawValue)); "
                + "the rest were not checked"
        }
    }

    /// Whether the refusal is about size (HTTP 413) rather than content (422).
    public var isSize: Bool {
        switch self {
        case .failedVerification, .badRefusals: false
        default: true
        }
    }
}

extension IntakeLimits {
    /// Throws when `batch` carries more than these limits allow.
    func check(_ batch: RecordBatch) throws(IntakeRefusal) {
        guard batch.envelopes.count <= maxEnvelopes else {
            throw .tooManyEnvelopes(batch.envelopes.count, limit: maxEnvelopes)
        }
        guard batch.commandAcks.count <= maxAcks else { throw .tooManyAcks(batch.commandAcks.count, limit: maxAcks) }
        let refusals = batch.commandRefusals ?? []
        guard refusals.count <= maxAcks else {
            throw .badRefusals("\(refusals.count) command refusals, more than the \(maxAcks) a batch may carry")
        }
        if let index = refusals.firstIndex(where: { !$0.isWellFormed }) {
            throw .badRefusals(
                "command refusal \(index + 1) is not a nonce of at most \(CommandRefusalReport.maximumNonce) base64url "
                    + "characters with a reason of at most \(CommandRefusalReport.maximumReason) letters a-z and '-'")
        }
        for (index, envelope) in batch.envelopes.enumerated() where envelope.utf8.count > maxEnvelopeBytes {
            throw .envelopeTooLarge(index: index, bytes: envelope.utf8.count, limit: maxEnvelopeBytes)
        }
    }
}

/// Rejections on their way to the log: one line per batch (counts per reason, not a line per envelope), and at
/// most `burst` lines, refilled at one per `interval`; what is held back is counted and reported with the next
/// line that goes out. A hostile client cannot fill the disk through the log. Pure: the caller passes the time.
struct RejectionLog: Sendable {
    /// Lines that may go out at once.
    var burst = 10
    /// Time for one more line.
    var intervalMilliseconds: Int64 = 1_000
    private var tokens = 10.0
    private var last: Int64?
    /// Batches and envelopes held back since the last line.
    private(set) var heldBatches = 0
    private(set) var heldEnvelopes = 0

    /// One line's worth: what to log for a batch with `rejections`, or nil when it is held back.
    mutating func note(
        device: String, rejections: [RejectionReason: Int], refusal: IntakeRefusal?, now: RecordTime
    ) -> Logger.Metadata? {
        let count = rejections.values.reduce(0, +)
        guard count > 0 || refusal != nil else { return nil }
        let time = now.epochMilliseconds
        if let last { tokens = min(Double(burst), tokens + Double(max(0, time - last)) / Double(intervalMilliseconds)) }
        last = time
        guard tokens >= 1 else {
            heldBatches += 1
            heldEnvelopes += count
            return nil
        }
        tokens -= 1
        // The device id is the sender's claim: cut short and escaped, so a hostile one can neither make lines long
        // nor forge one (a newline in it).
        var metadata: Logger.Metadata = [
            "device": "\(SafeText.quoted(device, limit: 40))",
            "rejected":
                "\(rejections.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: ","))",
        ]
        if let refusal { metadata["refused"] = "\(refusal)" }
        if heldBatches > 0 {
            metadata["held-back"] = "\(heldBatches) batches, \(heldEnvelopes) envelopes"
            heldBatches = 0
            heldEnvelopes = 0
        }
        return metadata
    }
}
