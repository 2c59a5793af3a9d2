import Crypto
import Foundation
import PanicCore

/// Signs control-room commands as compact JWS (`alg` EdDSA, `kid` the control room key's thumbprint).
///
/// The control room's key is an Ed25519 key in the same PEM PKCS#8 file format as a device key
/// (`controlroom keygen`), so `DeviceKey` loads it.
public struct CommandSigner: Sendable {
    private let signer: RecordSigner

    /// The key's public half; devices pin it.
    public let identity: DeviceIdentity

    public init(key: DeviceKey) {
        signer = RecordSigner(key: key)
        identity = key.identity
    }

    /// The JSON payload bytes of a command (sorted keys).
    public static func payload(_ command: ControlCommand) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(command)
    }

    /// Signs `command`, returning its compact JWS.
    public func sign(_ command: ControlCommand) throws -> String {
        try signer.sign(payload: CommandSigner.payload(command)).envelope
    }

    /// Signs a configuration document, returning its compact JWS (sorted-key JSON payload).
    public func sign(_ document: ConfigDocument) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try signer.sign(payload: encoder.encode(document)).envelope
    }

    /// Signs a software update document, returning its compact JWS (sorted-key JSON payload).
    public func sign(_ document: UpdateDocument) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try signer.sign(payload: encoder.encode(document)).envelope
    }

    /// Signs arbitrary payload bytes with the control room's key (an evidence bundle's audit lines and manifest),
    /// returning the compact JWS (`alg` EdDSA, `kid` the key's thumbprint). Ed25519 is deterministic: the same bytes
    /// give the same JWS.
    public func sign(payload: Data) throws -> String {
        try signer.sign(payload: payload).envelope
    }

    /// The raw Ed25519 signature of `message` with the control room's key (a C2SP signed note's signature).
    public func signature(for message: Data) throws -> Data {
        try signer.key.privateKey.signature(for: message)
    }
}

/// What the control room signs for a device: a command about an alert, a configuration document, or a software
/// update document.
public enum ControlRoomMessage: Sendable, Hashable {
    case command(ControlCommand)
    case config(ConfigDocument)
    case update(UpdateDocument)
}

/// Why a command's signature check failed (before any device-side state is consulted).
public enum CommandSignatureError: Error, Hashable, CustomStringConvertible {
    /// Not a compact JWS, or a payload that is not a command.
    case malformed(String)
    /// `kid` is not the pinned control-room key.
    case unknownKey(String?)
    /// The signature does not verify with the pinned key, or `alg` is not EdDSA.
    case badSignature(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed: \(reason)"
        case .unknownKey(let kid): "unknown key: kid \(kid ?? "(none)") is not the pinned control-room key"
        case .badSignature(let reason): "bad signature: \(reason)"
        }
    }
}

/// Checks a command's JWS against the control room's pinned public key and decodes it.
public struct CommandSignatureVerifier: Sendable {
    /// The pinned control-room key.
    public let controlRoom: DeviceIdentity
    private let keyID: String

    public init(controlRoom: DeviceIdentity) {
        self.controlRoom = controlRoom
        keyID = controlRoom.thumbprint
    }

    /// Verifies the signature and decodes the command; the error says which check failed.
    public func verify(_ text: String) throws(CommandSignatureError) -> ControlCommand {
        let payload = try verifiedPayload(text)
        do { return try JSONDecoder().decode(ControlCommand.self, from: payload) } catch {
            throw .malformed("signed payload is not a command: \(error)")
        }
    }

    /// Verifies the signature and decodes a configuration document (`ConfigDocument`); the error says which
    /// check failed. A signed command is not a configuration document (its payload has no `kind: config`).
    public func verifyConfig(_ text: String) throws(CommandSignatureError) -> ConfigDocument {
        let payload = try verifiedPayload(text)
        do { return try JSONDecoder().decode(ConfigDocument.self, from: payload) } catch {
            throw .malformed("signed payload is not a configuration document: \(error)")
        }
    }

    /// Verifies the signature and decodes a software update document (`UpdateDocument`); the error says which
    /// check failed. Neither a command nor a configuration document is one (their payload has no `kind: update`).
    public func verifyUpdate(_ text: String) throws(CommandSignatureError) -> UpdateDocument {
        let payload = try verifiedPayload(text)
        do { return try JSONDecoder().decode(UpdateDocument.self, from: payload) } catch {
            throw .malformed("signed payload is not an update document: \(error)")
        }
    }

    /// Verifies the signature and decodes whichever the control room signed: a command, a configuration document
    /// or an update document (told apart by the signed payload's `kind`, so none can pass for another).
    public func verifyMessage(_ text: String) throws(CommandSignatureError) -> ControlRoomMessage {
        let payload = try verifiedPayload(text)
        if let document = try? JSONDecoder().decode(ConfigDocument.self, from: payload) { return .config(document) }
        if let document = try? JSONDecoder().decode(UpdateDocument.self, from: payload) { return .update(document) }
        do { return .command(try JSONDecoder().decode(ControlCommand.self, from: payload)) } catch {
            throw .malformed("signed payload is not a command, configuration or update document: \(error)")
        }
    }

    /// The one signature check of everything the control room signs: compact JWS, `kid` the pinned key's
    /// thumbprint, `alg` EdDSA, signature valid with the pinned key. Returns the payload bytes.
    func verifiedPayload(_ text: String) throws(CommandSignatureError) -> Data {
        let envelope: Envelope
        do { envelope = try Envelope(text) } catch { throw .malformed(error.description) }
        guard envelope.keyID == keyID else { throw .unknownKey(envelope.keyID) }
        guard envelope.algorithm == "EdDSA" else { throw .badSignature("alg is \(envelope.algorithm), expected EdDSA") }
        guard controlRoom.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8)) else {
            throw .badSignature("signature does not verify with the pinned control-room key")
        }
        return envelope.payload
    }
}

extension DeviceIdentity {
    /// Parses a public key given as a JWK or as the raw 32 bytes in base64url; nil when it is neither.
    public init?(publicKeyText text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            self.init(jwk: trimmed)
            return
        }
        guard let raw = Base64URL.decode(trimmed), raw.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { return nil }
        self.init(publicKey: key)
    }
}

/// Why none of the box's pinned control-room keys took a signed document.
public enum PinnedKeyFailure: Error, Equatable, Sendable {
    /// No backend pins a control-room key, so nothing signed can be trusted.
    case noPinnedKey
    /// The signature or envelope is wrong, or another key signed it (`CommandSignatureError.unknownKey`).
    case forged(CommandSignatureError)
}

extension CommandSignatureVerifier {
    /// The one rule for a document the box may get through any of its backends (configuration and update
    /// documents): the first verifier whose key id matches decides; a key-id mismatch says only that this backend's
    /// key is not the signer's, any other error is final.
    public static func firstMatching<Document>(
        _ verifiers: [CommandSignatureVerifier],
        _ verify: (CommandSignatureVerifier) throws(CommandSignatureError) -> Document
    ) -> Result<Document, PinnedKeyFailure> {
        guard !verifiers.isEmpty else { return .failure(.noPinnedKey) }
        var unknownKey: CommandSignatureError?
        for verifier in verifiers {
            do { return .success(try verify(verifier)) } catch {
                guard case .unknownKey = error else { return .failure(.forged(error)) }
                unknownKey = error
            }
        }
        return .failure(.forged(unknownKey ?? .malformed("no verifier")))
    }
}
