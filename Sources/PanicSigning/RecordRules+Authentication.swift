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

    /// The first half of `admit`: a compact JWS, a `kid` that `key` knows, `alg` EdDSA and a signature that
    /// verifies, a payload that is a record, and the record's device (and `sender`, when given) the key's.
    public static func authenticate(
        _ text: String, sender: String? = nil, key lookup: (String) throws -> RegisteredKey?
    ) rethrows -> Authentication {
        let envelope: Envelope
        do { envelope = try Envelope(text) } catch { return .refused(nil, .malformed(reason: error.description)) }
        guard let keyID = envelope.keyID, let key = try lookup(keyID) else {
            return .refused(nil, .unknownKey(keyID: envelope.keyID))
        }
        guard envelope.algorithm == "EdDSA" else {
            return .refused(nil, .badSignature(keyID: keyID, reason: "alg is \(envelope.algorithm), expected EdDSA"))
        }
        guard key.identity.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8)) else {
            return .refused(nil, .badSignature(keyID: keyID, reason: "signature does not verify"))
        }
        let record: Record
        do { record = try JSONDecoder().decode(Record.self, from: envelope.payload) } catch {
            return .refused(nil, .malformed(reason: "signed payload is not a record: \(error)"))
        }
        for claimed in [record.device, sender ?? key.device] where claimed != key.device {
            return .refused(record, .deviceMismatch(keyID: keyID, claimed: claimed, registered: key.device))
        }
        return .genuine(GenuineRecord(record: record, envelope: envelope.text, hash: Envelope.hash(envelope.text)))
    }
}
