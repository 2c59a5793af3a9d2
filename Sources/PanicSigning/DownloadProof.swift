import Crypto
import Foundation
import PanicCore

/// The device's proof over a package download (`GET /v1/updates/<sha256>`, docs/updates.md): the same signed claim
/// as a record request's proof (`BatchClaim`, signed with the device key) with purpose ``purpose`` and the package's
/// SHA-256 in place of the envelopes' digest, sent in the ``header`` header. A batch proof is never a download
/// proof (its purpose is `batch`), nor one a batch proof (`BatchProof.verify` takes only `batch`).
public enum DownloadProof {
    /// The claim's `purpose`.
    public static let purpose = "update-download"
    /// The request header carrying the proof (a compact JWS).
    public static let header = "PanicBridge-Proof"

    /// A proof that `signer`'s device asks for the package `sha256` at `time` (the control room's clock as the box
    /// knows it).
    public static func sign(
        sha256: String, signer: BatchSigner, time: RecordTime, nonce: String = BatchProof.makeNonce()
    ) throws -> String {
        try signer.signClaim(purpose: purpose, commandAcks: [], digest: sha256, time: time, nonce: nonce)
    }

    /// Verifies a proof for the package `sha256` against the key registered for the device it names (`key`
    /// looks a device up). Returns the claim, whose time the caller still checks (`RequestReplayGuard.isFresh`).
    public static func verify(
        _ text: String, sha256: String, key: (String) -> RegisteredKey?
    ) -> Result<BatchClaim, BatchProofRefusal> {
        guard let envelope = try? Envelope(text),
            let unverified = try? JSONDecoder().decode(BatchClaim.self, from: envelope.payload)
        else { return .failure(.malformed) }
        guard let registered = key(unverified.device) else { return .failure(.unknownDevice) }
        guard envelope.keyID == registered.keyID, envelope.algorithm == "EdDSA",
            registered.identity.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8))
        else { return .failure(.badSignature) }
        guard unverified.purpose == purpose else { return .failure(.malformed) }
        guard unverified.envelopes == sha256, unverified.commandAcks.isEmpty else { return .failure(.bodyMismatch) }
        return .success(unverified)
    }
}

extension BatchSigner {
    /// A claim of `purpose` over `commandAcks` and `digest`, signed (the one place a device's claim is encoded).
    func signClaim(
        purpose: String, commandAcks: [String], digest: String, time: RecordTime, nonce: String
    ) throws -> String {
        var claim = BatchClaim(
            device: deviceID, time: time, nonce: nonce, commandAcks: commandAcks, envelopes: digest)
        claim.purpose = purpose
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try signer.sign(payload: encoder.encode(claim)).envelope
    }
}

/// A package file's size and SHA-256 (lower-case hex), read in 64 KiB pieces: the one hash of the update channel
/// (the control room names a stored package by it, the box checks a download and the install agent a spooled file).
public enum PackageDigest {
    /// The size and SHA-256 of the file at `path`, reading at most `limit` bytes plus one (a file longer than
    /// `limit` has its size reported as `limit + 1` at most, and a hash of that prefix).
    public static func of(path: String, limit: Int = .max) throws -> (size: Int, sha256: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        while size <= limit, let chunk = try handle.read(upToCount: 64 * 1024), !chunk.isEmpty {
            size += chunk.count
            hasher.update(data: chunk)
        }
        return (size, hex(Data(hasher.finalize())))
    }

    /// The SHA-256 of `data`, lower-case hex.
    public static func sha256(_ data: Data) -> String { hex(Data(SHA256.hash(data: data))) }

    static func hex(_ bytes: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
