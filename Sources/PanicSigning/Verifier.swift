import Crypto
import Foundation
import PanicCore

/// What the verifier concluded about one envelope or one stretch of a device's stream. Each problem is its
/// own case so a control room (or a court) can tell a dropped record from a replay from a forgery.
public enum VerificationFinding: Hashable, Sendable, CustomStringConvertible {
    /// Signature, device and chain all check out.
    case ok(device: String, sequence: Int64)
    /// Not a compact JWS, or a payload that is not a record.
    case malformed(reason: String)
    /// `kid` names no registered key (or is missing).
    case unknownKey(keyID: String?)
    /// The signature does not verify with the registered key, or `alg` is not EdDSA.
    case badSignature(keyID: String, reason: String)
    /// The record's device differs from the device the key is registered to.
    case deviceMismatch(keyID: String, claimed: String, registered: String)
    /// Sequence numbers `from...to` of a device were never seen (between the lowest and highest seen).
    case gap(device: String, from: Int64, to: Int64)
    /// A second, different record with a sequence number already seen.
    case fork(device: String, sequence: Int64)
    /// The same record (byte-identical envelope, or the same record id) seen again.
    case replay(device: String, sequence: Int64)
    /// The record's `prev` is not the hash of the device's previous record.
    case brokenChain(device: String, sequence: Int64)

    /// Whether this is `.ok`.
    public var isOK: Bool { if case .ok = self { true } else { false } }

    /// A short stable name for the finding (`ok`, `gap`, `fork`, ...).
    public var name: String {
        switch self {
        case .ok: "ok"
        case .malformed: "malformed"
        case .unknownKey: "unknown-key"
        case .badSignature: "bad-signature"
        case .deviceMismatch: "device-mismatch"
        case .gap: "gap"
        case .fork: "fork"
        case .replay: "replay"
        case .brokenChain: "broken-chain"
        }
    }

    public var description: String {
        switch self {
        case .ok(let device, let sequence): "ok \(device) seq \(sequence)"
        case .malformed(let reason): "malformed: \(reason)"
        case .unknownKey(let keyID): "unknown-key: kid \(keyID ?? "(none)") is not registered"
        case .badSignature(let keyID, let reason): "bad-signature: kid \(keyID): \(reason)"
        case .deviceMismatch(let keyID, let claimed, let registered):
            "device-mismatch: kid \(keyID) belongs to \(registered) but the record claims \(claimed)"
        case .gap(let device, let from, let to):
            from == to ? "gap \(device): seq \(from) missing" : "gap \(device): seq \(from)-\(to) missing"
        case .fork(let device, let sequence): "fork \(device) seq \(sequence): a different record with a seen number"
        case .replay(let device, let sequence): "replay \(device) seq \(sequence): the same record again"
        case .brokenChain(let device, let sequence):
            "broken-chain \(device) seq \(sequence): prev is not the hash of seq \(sequence - 1)"
        }
    }
}

/// Verifies streams of envelopes from registered devices: signatures, sequence numbers and the hash chain.
///
/// Records may arrive in any order (alerts overtake backlog), so chain links are checked whenever both
/// neighbours are known, and gaps are reported by `gaps()` / `finish()` rather than on arrival.
public struct RecordVerifier: Sendable {
    struct Seen: Sendable {
        var envelopeHash: String
        var recordID: String
        var previousHash: String?
    }

    struct Stream: Sendable {
        var seen: [Int64: Seen] = [:]
        var recordIDs: Set<String> = []
    }

    private var keys: [String: DeviceIdentity] = [:]
    private var streams: [String: Stream] = [:]
    /// Whether a device's stream must start at sequence 1 (otherwise the first seen number starts it).
    public var streamsStartAtOne: Bool

    public init(keys: [DeviceIdentity] = [], streamsStartAtOne: Bool = true) {
        self.streamsStartAtOne = streamsStartAtOne
        for key in keys { register(key) }
    }

    /// Registers a device key; its thumbprint becomes a known `kid`.
    public mutating func register(_ identity: DeviceIdentity) { keys[identity.thumbprint] = identity }

    /// Checks one envelope. Returns the decoded record when it verified (also for a replay, which is genuine
    /// but already seen) and the findings about it (exactly one, or two when a chain link also broke).
    public mutating func verify(_ text: String) -> (record: Record?, findings: [VerificationFinding]) {
        let envelope: Envelope
        do { envelope = try Envelope(text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            return (nil, [.malformed(reason: error.description)])
        }
        guard let keyID = envelope.keyID, let identity = keys[keyID] else {
            return (nil, [.unknownKey(keyID: envelope.keyID)])
        }
        guard envelope.algorithm == "EdDSA" else {
            return (nil, [.badSignature(keyID: keyID, reason: "alg is \(envelope.algorithm), expected EdDSA")])
        }
        guard identity.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8)) else {
            return (nil, [.badSignature(keyID: keyID, reason: "signature does not verify")])
        }
        let record: Record
        do { record = try JSONDecoder().decode(Record.self, from: envelope.payload) } catch {
            return (nil, [.malformed(reason: "signed payload is not a record: \(error)")])
        }
        guard record.device == identity.deviceID else {
            return (
                record, [.deviceMismatch(keyID: keyID, claimed: record.device, registered: identity.deviceID)]
            )
        }
        let hash = Envelope.hash(envelope.text)
        var stream = streams[record.device, default: Stream()]
        defer { streams[record.device] = stream }
        if let earlier = stream.seen[record.sequence] {
            if earlier.envelopeHash == hash || earlier.recordID == record.id {
                return (record, [.replay(device: record.device, sequence: record.sequence)])
            }
            return (record, [.fork(device: record.device, sequence: record.sequence)])
        }
        if stream.recordIDs.contains(record.id) {
            return (record, [.replay(device: record.device, sequence: record.sequence)])
        }
        var findings: [VerificationFinding] = []
        if record.sequence < 1 || (record.sequence == 1) != (record.previousHash == nil) {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence))
        }
        if let before = stream.seen[record.sequence - 1], before.envelopeHash != record.previousHash {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence))
        }
        if let after = stream.seen[record.sequence + 1], after.previousHash != hash {
            findings.append(.brokenChain(device: record.device, sequence: record.sequence + 1))
        }
        stream.seen[record.sequence] = Seen(envelopeHash: hash, recordID: record.id, previousHash: record.previousHash)
        stream.recordIDs.insert(record.id)
        return (record, findings.isEmpty ? [.ok(device: record.device, sequence: record.sequence)] : findings)
    }

    /// Sequence numbers missing so far, per device: from 1 (or the lowest seen) to the highest seen.
    public func gaps() -> [VerificationFinding] {
        var result: [VerificationFinding] = []
        for device in streams.keys.sorted() {
            let numbers = streams[device]!.seen.keys.sorted()
            guard let first = numbers.first else { continue }
            var expected: Int64 = streamsStartAtOne ? 1 : first
            for number in numbers where number >= expected {
                if number > expected { result.append(.gap(device: device, from: expected, to: number - 1)) }
                expected = number + 1
            }
        }
        return result
    }

    /// The highest sequence number seen from `device`, if any.
    public func highestSequence(of device: String) -> Int64? { streams[device]?.seen.keys.max() }
}
