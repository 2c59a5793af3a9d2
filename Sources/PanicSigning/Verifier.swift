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

    /// The names of the findings: one set, used by `panicd verify`'s output and the control room's findings.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case ok
        case malformed
        case unknownKey = "unknown-key"
        case badSignature = "bad-signature"
        case deviceMismatch = "device-mismatch"
        case gap
        case fork
        case replay
        case brokenChain = "broken-chain"
    }

    /// Whether this is `.ok`.
    public var isOK: Bool { if case .ok = self { true } else { false } }

    /// Which finding this is.
    public var kind: Kind {
        switch self {
        case .ok: .ok
        case .malformed: .malformed
        case .unknownKey: .unknownKey
        case .badSignature: .badSignature
        case .deviceMismatch: .deviceMismatch
        case .gap: .gap
        case .fork: .fork
        case .replay: .replay
        case .brokenChain: .brokenChain
        }
    }

    /// A short stable name for the finding (`ok`, `gap`, `fork`, ...).
    public var name: String { kind.rawValue }

    /// What the control room answers for an envelope refused with this finding (nil for findings that do not
    /// refuse a record).
    public var rejection: RejectionReason? {
        switch self {
        case .malformed: .malformed
        case .unknownKey: .unknownDevice
        case .badSignature: .badSignature
        case .deviceMismatch: .deviceMismatch
        case .fork: .fork
        case .replay: .replay
        case .ok, .gap, .brokenChain: nil
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

/// Verifies streams of envelopes from registered devices with `RecordRules` over a `MemoryRecordLedger`:
/// signatures, sequence numbers and the hash chain.
///
/// Records may arrive in any order (alerts overtake backlog), so chain links are checked whenever both
/// neighbours are known, and gaps are reported by `gaps()` rather than on arrival.
public struct RecordVerifier: Sendable {
    /// What has been seen so far.
    public private(set) var ledger: MemoryRecordLedger
    /// Whether a device's stream must start at sequence 1 (otherwise the first seen number starts it).
    public var streamsStartAtOne: Bool

    public init(keys: [DeviceIdentity] = [], streamsStartAtOne: Bool = true) {
        self.streamsStartAtOne = streamsStartAtOne
        ledger = MemoryRecordLedger(keys: keys)
    }

    /// Registers a device key; its thumbprint becomes a known `kid`.
    public mutating func register(_ identity: DeviceIdentity) { ledger.register(identity) }

    /// Checks one envelope. Returns the decoded record when it verified (also for a replay, which is genuine
    /// but already seen) and the findings about it (exactly one, or more when a chain link also broke).
    public mutating func verify(_ text: String) -> (record: Record?, findings: [VerificationFinding]) {
        // The memory ledger cannot fail.
        let verdict = try! RecordRules.admit(text.trimmingCharacters(in: .whitespacesAndNewlines), into: &ledger)
        return (verdict.record, verdict.findings)
    }

    /// `verify` over many envelopes in their order, with one signature check per hash-chained run
    /// (`RecordRules.authenticate(batch:)`): the same findings as verifying each in turn.
    public mutating func verify(batch texts: [String]) -> [(record: Record?, findings: [VerificationFinding])] {
        let keys = ledger
        let authenticated = RecordRules.authenticate(
            batch: texts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, key: { keys.key(id: $0) })
        return authenticated.verdicts.map { verdict in
            switch verdict {
            case .genuine(let genuine):
                // The memory ledger cannot fail.
                let admitted = try! RecordRules.admit(genuine, into: &ledger)
                return (admitted.record, admitted.findings)
            case .refused(let record, let finding): return (record, [finding])
            }
        }
    }

    /// Sequence numbers missing so far, per device: from 1 (or the lowest seen) to the highest seen.
    public func gaps() -> [VerificationFinding] {
        var result: [VerificationFinding] = []
        for device in ledger.devices {
            let numbers = ledger.sequences(of: device)
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
    public func highestSequence(of device: String) -> Int64? { ledger.sequences(of: device).last }
}
