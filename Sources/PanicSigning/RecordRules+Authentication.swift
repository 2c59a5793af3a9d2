import Crypto
import Foundation
import PanicCore

/// An envelope whose signature verified with a registered key, for that key's device: what `RecordRules` checks
/// before it looks at what is stored. Made without the ledger's records, so a control room can check signatures
/// outside the lock its store is behind.
public struct GenuineRecord: Sendable {
    /// The decoded record.
    public let record: Record
    /// The envelope's exact text.
    public let envelope: String
    /// Its hash (`Envelope.hash`).
    public let hash: String
}

extension RecordRules {
    /// What the first half of the rules concluded about one envelope.
    public enum Authentication: Sendable {
        /// Signed with the registered key of the device it names (and of the sender, when given).
        case genuine(GenuineRecord)
        /// Refused: `malformed`, `unknownKey`, `badSignature` or `deviceMismatch` (with the record when the
        /// signature verified).
        case refused(Record?, VerificationFinding)
    }

    /// What `authenticate(batch:)` concluded: a verdict per envelope, in the batch's order.
    public struct AuthenticatedBatch: Sendable {
        /// One per envelope, in order.
        public var verdicts: [Authentication]
        /// How many Ed25519 signatures were checked (one per hash-chained run, plus one per envelope not vouched
        /// for by a genuine successor).
        public var signaturesChecked: Int
        /// How many of those checks failed.
        public var failures: Int
    }

    /// The first half of `admit`: a compact JWS, a `kid` that `key` knows, `alg` EdDSA and a signature that
    /// verifies, a payload that is a record, and the record's device (and `sender`, when given) the key's.
    public static func authenticate(
        _ text: String, sender: String? = nil, key lookup: (String) throws -> RegisteredKey?
    ) rethrows -> Authentication {
        try authenticate(batch: [text], sender: sender, key: lookup).verdicts[0]
    }

    /// `authenticate` over many envelopes at once, with one Ed25519 check per hash-chained run instead of one per
    /// envelope; every verdict is the one `authenticate` gives the envelope alone.
    ///
    /// Why a link is as good as a signature: an envelope E is genuine without its own check when the batch holds a
    /// genuine envelope F (checked, or itself vouched for) signed with the same key (`kid`) for the same device,
    /// numbered one after E, whose signed `prev` is exactly `Envelope.hash(E)` — the SHA-256 of E's whole text,
    /// header, payload and signature. The device signs `prev` only as the hash of the envelope it made for the record
    /// before, so F's valid signature commits to E's exact bytes: a changed byte of E (payload, header or signature)
    /// changes its hash and breaks the link, and so does a `prev` rewritten to match (it is inside F's signature).
    /// The run's last envelope, and any envelope not linked to a genuine successor in the batch, is checked on its
    /// own; if that check fails, the envelope before it is no longer vouched for and is checked on its own in turn,
    /// so a forged envelope costs its honest predecessors nothing but one more check. Nothing stored is trusted for
    /// a link: only signatures checked in this call.
    ///
    /// - Parameter failureLimit: after this many failed signature checks no more are made (a hostile batch costs
    ///   that many checks); the envelopes left unchecked are refused as `badSignature` with a reason saying so.
    public static func authenticate(
        batch texts: [String], sender: String? = nil, failureLimit: Int = .max,
        key lookup: (String) throws -> RegisteredKey?
    ) rethrows -> AuthenticatedBatch {
        var verdicts: [Authentication?] = Array(repeating: nil, count: texts.count)
        // Envelopes whose verdict hangs on their signature: a candidate for a link, or one checked on its own.
        var pending: [Pending] = []
        // Parsed once per batch: the envelopes' shared header, and one decoder for every record.
        var headers = EnvelopeHeaders()
        let decoder = JSONDecoder()
        for (index, text) in texts.enumerated() {
            switch try examine(text, sender: sender, key: lookup, headers: &headers, decoder: decoder) {
            case .decided(let verdict): verdicts[index] = verdict
            case .pending(let item): pending.append(Pending(index: index, item: item))
            }
        }
        // Latest first, so each envelope's successor is decided before it is.
        pending.sort { ($0.item.sequence ?? .min) > ($1.item.sequence ?? .min) }
        var genuineLinks: [LinkKey: [String]] = [:]  // (kid, device, sequence) → the `prev`s of genuine envelopes
        var checked = 0
        var failures = 0
        for entry in pending {
            let item = entry.item
            if let record = item.record,
                genuineLinks[LinkKey(keyID: item.keyID, device: record.device, sequence: record.sequence &+ 1)]?
                    .contains(item.hash) == true
            {
                verdicts[entry.index] = item.ifGenuine
            } else if failures >= failureLimit {
                verdicts[entry.index] = .refused(
                    nil,
                    .badSignature(
                        keyID: item.keyID,
                        reason: "not checked: \(failures) envelopes of the batch failed verification before it"))
                continue
            } else {
                checked += 1
                if item.key.identity.publicKey.isValidSignature(
                    item.envelope.signature, for: Data(item.envelope.signingInput.utf8))
                {
                    verdicts[entry.index] = item.ifGenuine
                } else {
                    failures += 1
                    verdicts[entry.index] = .refused(
                        nil, .badSignature(keyID: item.keyID, reason: "signature does not verify"))
                    continue
                }
            }
            if case .genuine(let genuine) = item.ifGenuine, let previous = genuine.record.previousHash {
                let link = LinkKey(keyID: item.keyID, device: genuine.record.device, sequence: genuine.record.sequence)
                genuineLinks[link, default: []].append(previous)
            }
        }
        // Every slot was filled: `decided` above, or `pending` in the loop.
        return AuthenticatedBatch(verdicts: verdicts.map { $0! }, signaturesChecked: checked, failures: failures)
    }

    /// An envelope and what it is once its signature holds (by its own check, or a link from its successor).
    private struct Pending {
        var index: Int
        var item: Examined
    }

    private struct Examined {
        var envelope: Envelope
        var key: RegisteredKey
        var keyID: String
        var hash: String
        /// The record, when it may be vouched for by a link (decoded, and the key's device's).
        var record: Record?
        /// The verdict if the signature verifies: genuine, or `malformed` / `deviceMismatch` for a signed envelope
        /// the rules refuse anyway.
        var ifGenuine: Authentication
        var sequence: Int64? { record?.sequence }
    }

    private struct LinkKey: Hashable {
        var keyID: String
        var device: String
        var sequence: Int64
    }

    private enum Examination {
        /// Refused before any signature matters: not a JWS, an unknown `kid`, another `alg`.
        case decided(Authentication)
        case pending(Examined)
    }

    /// Everything but the signature check, in the order the rules give findings.
    private static func examine(
        _ text: String, sender: String?, key lookup: (String) throws -> RegisteredKey?,
        headers: inout EnvelopeHeaders, decoder: JSONDecoder
    ) rethrows -> Examination {
        let envelope: Envelope
        do { envelope = try Envelope(text, headers: &headers) } catch {
            return .decided(.refused(nil, .malformed(reason: error.description)))
        }
        guard let keyID = envelope.keyID, let key = try lookup(keyID) else {
            return .decided(.refused(nil, .unknownKey(keyID: envelope.keyID)))
        }
        guard envelope.algorithm == "EdDSA" else {
            return .decided(
                .refused(nil, .badSignature(keyID: keyID, reason: "alg is \(envelope.algorithm), expected EdDSA")))
        }
        let hash = Envelope.hash(envelope.text)
        func pending(_ record: Record?, _ verdict: Authentication) -> Examination {
            .pending(
                Examined(envelope: envelope, key: key, keyID: keyID, hash: hash, record: record, ifGenuine: verdict))
        }
        let record: Record
        do { record = try Record.decode(json: envelope.payload, decoder: decoder) } catch {
            return pending(nil, .refused(nil, .malformed(reason: "signed payload is not a record: \(error)")))
        }
        for claimed in [record.device, sender ?? key.device] where claimed != key.device {
            return pending(
                nil, .refused(record, .deviceMismatch(keyID: keyID, claimed: claimed, registered: key.device)))
        }
        return pending(record, .genuine(GenuineRecord(record: record, envelope: envelope.text, hash: hash)))
    }
}
