import Crypto
import Foundation
import PanicCore

/// What the rules decided about one envelope.
public enum RecordVerdict: Sendable, Hashable {
    /// Genuine and new: now stored in the ledger. `findings` are chain findings that do not stop it being stored
    /// (`brokenChain`, for it or for its successor); empty when every known link holds.
    case stored(Record, hash: String, findings: [VerificationFinding])
    /// Genuine and already stored under its sequence number (the same envelope, or the same record id): a resend.
    case resent(Record)
    /// Not stored; the finding says why (`malformed`, `unknownKey`, `badSignature`, `deviceMismatch`, `fork`,
    /// `replay`). The record is there when its signature verified.
    case refused(Record?, VerificationFinding)

    /// The decoded record, when the signature verified.
    public var record: Record? {
        switch self {
        case .stored(let record, _, _), .resent(let record): record
        case .refused(let record, _): record
        }
    }

    /// The findings as `panicd verify` reports them: `ok` for a clean new record, `replay` for a resend.
    public var findings: [VerificationFinding] {
        switch self {
        case .stored(let record, _, let findings):
            findings.isEmpty ? [.ok(device: record.device, sequence: record.sequence)] : findings
        case .resent(let record): [.replay(device: record.device, sequence: record.sequence)]
        case .refused(_, let finding): [finding]
        }
    }
}

/// The rules every signed record is held to, in one place: the control room's intake and `panicd verify` both run
/// them, each over its own `RecordLedger`.
///
/// In order: a compact JWS; a `kid` the ledger knows; `alg` EdDSA and a signature that verifies; a payload that
/// is a record; the record's device (and the sender's, when there is one) the key's; not stored before under its
/// number (a resend if it is the same record, a fork if not) nor under another number (a replay). A new record is
/// stored, and its chain links are checked against whichever neighbours are known (records may arrive in any
/// order, alerts first): record 1 has no `prev` and every later one has one, its `prev` is the hash of the record
/// before, and the record after points at it.
public enum RecordRules {
    /// Checks `text` and, when it is genuine and new, stores it in `ledger`.
    /// - Parameter sender: the device the envelope came from (a batch's `device`), when known; it must be the key's.
    public static func admit<Ledger: RecordLedger>(
        _ text: String, sender: String? = nil, into ledger: inout Ledger
    ) throws -> RecordVerdict {
        switch try authenticate(text, sender: sender, key: { try ledger.key(id: $0) }) {
        case .genuine(let genuine): return try admit(genuine, into: &ledger)
        case .refused(let record, let finding): return .refused(record, finding)
        }
    }

    /// The second half of `admit`: stores an envelope `authenticate` found genuine, unless it is a resend, a fork
    /// or a replay of what `ledger` holds.
    public static func admit<Ledger: RecordLedger>(
        _ genuine: GenuineRecord, into ledger: inout Ledger
    ) throws -> RecordVerdict {
        let record = genuine.record
        let hash = genuine.hash
        if let earlier = try ledger.entry(device: record.device, sequence: record.sequence) {
            if earlier.envelopeHash == hash || earlier.recordID == record.id { return .resent(record) }
            return .refused(record, .fork(device: record.device, sequence: record.sequence))
        }
        if try ledger.containsRecord(device: record.device, id: record.id) {
            return .refused(record, .replay(device: record.device, sequence: record.sequence))
        }
        var findings: [VerificationFinding] = []
        if record.sequence < 1 || (record.sequence == 1) != (record.previousHash == nil) {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence))
        }
        if let before = try ledger.entry(device: record.device, sequence: record.sequence - 1),
            before.envelopeHash != record.previousHash
        {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence))
        }
        if let after = try ledger.entry(device: record.device, sequence: record.sequence + 1),
            after.previousHash != hash
        {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence + 1))
        }
        let entry = LedgerEntry(envelopeHash: hash, recordID: record.id, previousHash: record.previousHash)
        try ledger.store(record, entry: entry, envelope: genuine.envelope)
        return .stored(record, hash: hash, findings: findings)
    }
}
