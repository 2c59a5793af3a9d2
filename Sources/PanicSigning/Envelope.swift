import Crypto
import Foundation
import PanicCore

/// Signs records as JWS compact serialization with `alg` EdDSA (RFC 7515, RFC 8037) and `kid` the key's
/// RFC 7638 thumbprint, so any standard JOSE library verifies them.
public struct RecordSigner: RecordSealing {
    /// The key that signs.
    public let key: DeviceKey
    /// The device id records must carry.
    public let deviceID: String
    /// The key's thumbprint, the JWS `kid`.
    public let keyID: String
    private let encodedHeader: String

    public init(key: DeviceKey) {
        self.key = key
        let identity = key.identity
        deviceID = identity.deviceID
        keyID = identity.thumbprint
        encodedHeader = Base64URL.encode(Data(#"{"alg":"EdDSA","kid":"\#(keyID)"}"#.utf8))
    }

    /// The JSON payload bytes for a record: sorted keys, so the same record always gives the same bytes.
    public static func payload(_ record: Record) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(record)
    }

    /// Signs `record` (whose device must be this signer's).
    public func seal(_ record: Record) throws -> SealedRecord {
        try seal(record, with: key.privateKey)
    }

    /// Signs `record` with an already-built private key (saves rebuilding it per record in a batch).
    public func seal(_ record: Record, with privateKey: Curve25519.Signing.PrivateKey) throws -> SealedRecord {
        guard record.device == deviceID else { throw SigningError.wrongDevice(record.device, expected: deviceID) }
        return try sign(payload: RecordSigner.payload(record), with: privateKey)
    }

    /// Signs arbitrary payload bytes (tests use it to make hostile envelopes).
    public func sign(payload: Data, with privateKey: Curve25519.Signing.PrivateKey? = nil) throws -> SealedRecord {
        let signingInput = encodedHeader + "." + Base64URL.encode(payload)
        let signature = try (privateKey ?? key.privateKey).signature(for: Data(signingInput.utf8))
        let envelope = signingInput + "." + Base64URL.encode(signature)
        return SealedRecord(envelope: envelope, hash: Envelope.hash(envelope))
    }
}

/// Errors from signing.
public enum SigningError: Error, Equatable, CustomStringConvertible {
    /// The record names another device than the key's.
    case wrongDevice(String, expected: String)

    public var description: String {
        switch self {
        case .wrongDevice(let device, let expected):
            "record is for device \(device) but the key belongs to \(expected)"
        }
    }
}

/// A parsed (not yet verified) compact JWS envelope.
public struct Envelope: Sendable {
    /// The envelope text.
    public let text: String
    /// Header `alg`.
    public let algorithm: String
    /// Header `kid`, when present.
    public let keyID: String?
    /// The decoded payload bytes.
    public let payload: Data
    /// The signature bytes.
    public let signature: Data
    /// `header.payload`, the bytes the signature covers.
    public let signingInput: Substring

    /// SHA-256 of an envelope's text, base64url: the value the next record carries as `prev`.
    public static func hash(_ envelope: String) -> String {
        Base64URL.encode(Data(SHA256.hash(data: Data(envelope.utf8))))
    }

    /// Parses compact serialization; the error says which part is wrong.
    public init(_ text: String) throws(EnvelopeError) {
        var headers = EnvelopeHeaders()
        try self.init(text, headers: &headers)
    }

    /// `init(_:)` with the headers already parsed for other envelopes of the same batch: envelopes signed with the
    /// same key share their header's exact text, so it is decoded once (the same verdict as parsing it again).
    public init(_ text: String, headers: inout EnvelopeHeaders) throws(EnvelopeError) {
        self.text = text
        // The two dots, found on the UTF-8 bytes (a `String.split` here was 5 % of the control room's intake).
        let utf8 = text.utf8
        var dots: [String.Index] = []
        var index = utf8.startIndex
        while let dot = utf8[index...].firstIndex(of: UInt8(ascii: ".")) {
            dots.append(dot)
            if dots.count > 2 { break }
            index = utf8.index(after: dot)
        }
        guard dots.count == 2 else {
            let found = dots.count > 2 ? "more than 3" : "\(dots.count + 1)"
            throw EnvelopeError("expected 3 dot-separated parts, found \(found)")
        }
        let parts = [
            text[text.startIndex..<dots[0]], text[utf8.index(after: dots[0])..<dots[1]],
            text[utf8.index(after: dots[1])...],
        ]
        let header = try headers.parse(parts[0])
        guard let payload = Base64URL.decode(parts[1]) else { throw EnvelopeError("payload is not base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw EnvelopeError("signature is not base64url") }
        algorithm = header.algorithm
        keyID = header.keyID
        self.payload = payload
        self.signature = signature
        signingInput = text[text.startIndex..<parts[1].endIndex]
    }
}

/// JOSE headers parsed so far, by their exact base64url text (with the error, for one that does not parse): a
/// batch's envelopes from one key share one header, decoded once. Holds at most `limit` headers; others are
/// parsed each time (a hostile batch of distinct headers costs what it did, and no memory).
public struct EnvelopeHeaders: Sendable {
    struct Parsed: Sendable {
        var algorithm: String
        var keyID: String?
    }

    private var parsed: [Substring: Result<Parsed, EnvelopeError>] = [:]
    /// Most headers kept.
    public static let limit = 16

    public init() {}

    mutating func parse(_ text: Substring) throws(EnvelopeError) -> Parsed {
        if let known = parsed[text] { return try known.get() }
        let result = Result { () throws(EnvelopeError) -> Parsed in try Self.decode(text) }
        if parsed.count < Self.limit { parsed[text] = result }
        return try result.get()
    }

    private static func decode(_ text: Substring) throws(EnvelopeError) -> Parsed {
        guard let headerBytes = Base64URL.decode(text) else { throw EnvelopeError("header is not base64url") }
        struct Header: Decodable {
            var alg: String
            var kid: String?
            var crit: [String]?
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerBytes) else {
            throw EnvelopeError("header is not a JSON object with a string 'alg'")
        }
        guard header.crit == nil else { throw EnvelopeError("header has 'crit', which this verifier does not support") }
        return Parsed(algorithm: header.alg, keyID: header.kid)
    }
}

/// Why an envelope could not be parsed.
public struct EnvelopeError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
