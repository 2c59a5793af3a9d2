import Crypto
import Foundation
import PanicCore

/// The device signature over a batch request (`RecordBatch.proof`): a compact JWS (`alg` EdDSA, `kid` the
/// device key's thumbprint) of a `BatchClaim`. The device signs; the control room checks the signature and that
/// the claim matches the batch here, and freshness and replay itself (it owns the clock and the seen nonces).
public enum BatchProof {
    /// SHA-256 (base64url) of `envelopes` joined with newlines (a compact JWS holds no newline).
    public static func digest(_ envelopes: [String]) -> String {
        var hasher = SHA256()
        for (index, envelope) in envelopes.enumerated() {
            if index > 0 { hasher.update(data: Data([0x0A])) }
            hasher.update(data: Data(envelope.utf8))
        }
        return Base64URL.encode(Data(hasher.finalize()))
    }

    /// A fresh random nonce (128 bits, base64url).
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Verifies `batch.proof` against the key registered for `batch.device`, and that the signed claim is this
    /// batch's (device, acks, envelopes). Returns the claim, whose time and nonce the caller still has to check.
    public static func verify(_ batch: RecordBatch, key: RegisteredKey) -> Result<BatchClaim, BatchProofRefusal> {
        guard let text = batch.proof else { return .failure(.missing) }
        guard key.device == batch.device else { return .failure(.unknownDevice) }
        let envelope: Envelope
        do { envelope = try Envelope(text) } catch { return .failure(.malformed) }
        guard envelope.keyID == key.keyID, envelope.algorithm == "EdDSA",
            key.identity.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8))
        else { return .failure(.badSignature) }
        guard let claim = try? JSONDecoder().decode(BatchClaim.self, from: envelope.payload),
            claim.purpose == BatchClaim.batchPurpose
        else { return .failure(.malformed) }
        guard claim.device == batch.device, claim.commandAcks == batch.commandAcks,
            claim.commandRefusals ?? [] == batch.commandRefusals ?? [], claim.envelopes == digest(batch.envelopes)
        else { return .failure(.bodyMismatch) }
        return .success(claim)
    }
}

/// Signs a device's batch requests with its key (the device side of `BatchProof`).
public struct BatchSigner: Sendable {
    let signer: RecordSigner

    /// The device the requests are signed for.
    public var deviceID: String { signer.deviceID }

    public init(key: DeviceKey) { signer = RecordSigner(key: key) }

    /// `batch` with its `proof`: a claim over its device, acks and envelopes, at `time`, with `nonce`.
    public func sign(
        _ batch: RecordBatch, time: RecordTime, nonce: String = BatchProof.makeNonce()
    ) throws
        -> RecordBatch
    {
        let claim = BatchClaim(
            device: batch.device, time: time, nonce: nonce, commandAcks: batch.commandAcks,
            commandRefusals: batch.commandRefusals.flatMap { $0.isEmpty ? nil : $0 },
            envelopes: BatchProof.digest(batch.envelopes))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var signed = batch
        signed.proof = try signer.sign(payload: encoder.encode(claim)).envelope
        return signed
    }
}
