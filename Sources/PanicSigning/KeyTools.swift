import Foundation

/// What `panicd identity` prints: everything an integrator registers for a box.
public struct IdentityReport: Sendable, Codable, Hashable {
    /// The device id.
    public var device: String
    /// The key's RFC 7638 thumbprint (the JWS `kid`).
    public var fingerprint: String
    /// The raw public key, base64url.
    public var publicKey: String
    /// The public JWK with `kid`, `alg` and `use`.
    public var jwk: String

    public init(_ identity: DeviceIdentity) {
        device = identity.deviceID
        fingerprint = identity.thumbprint
        publicKey = identity.publicKeyBase64URL
        jwk =
            #"{"alg":"EdDSA","crv":"Ed25519","kid":"\#(identity.thumbprint)","kty":"OKP","use":"sig","x":"\#(identity.publicKeyBase64URL)"}"#
    }

    /// The human-readable lines.
    public var text: String {
        """
        device:      \(device)
        fingerprint: \(fingerprint)
        public key:  \(publicKey)
        jwk:         \(jwk)
        """
    }
}

/// Runs the verifier over a stream of envelopes, one per line, and collects the findings in order.
public struct StreamVerification: Sendable {
    /// Every finding: per envelope as read (with its 1-based line), then the gaps at the end (line nil).
    public var findings: [(line: Int?, finding: VerificationFinding)] = []
    /// Envelopes read (non-empty lines).
    public var envelopes = 0

    /// Findings other than `ok`.
    public var problems: [(line: Int?, finding: VerificationFinding)] { findings.filter { !$0.finding.isOK } }

    /// Verifies `text` (envelopes separated by newlines) with `verifier`.
    public init(text: String, verifier: RecordVerifier) {
        var verifier = verifier
        var lines: [(number: Int, envelope: String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            lines.append((index + 1, trimmed))
        }
        envelopes = lines.count
        // All at once: one signature check per hash-chained run (`RecordRules.authenticate(batch:)`).
        for (line, verdict) in zip(lines, verifier.verify(batch: lines.map(\.envelope))) {
            for finding in verdict.findings { findings.append((line.number, finding)) }
        }
        for gap in verifier.gaps() { findings.append((nil, gap)) }
    }

    /// How many findings of each name, e.g. `ok 12, gap 1`.
    public var summary: String {
        var counts: [String: Int] = [:]
        for (_, finding) in findings { counts[finding.name, default: 0] += 1 }
        let parts = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        return "\(envelopes) envelopes: " + (parts.isEmpty ? "nothing to verify" : parts.joined(separator: ", "))
    }
}
