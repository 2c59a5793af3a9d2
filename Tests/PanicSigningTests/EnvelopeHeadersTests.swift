import Foundation
import PanicCore
import PanicSigning
import Testing

/// A batch's envelopes share their JOSE header, so the control room parses it once per batch (`EnvelopeHeaders`,
/// issue 29) instead of base64url- and JSON-decoding it per record; every verdict, and every refusal's words, must
/// stay what the envelope gets alone.
@Suite("Envelope headers parsed once per batch")
struct EnvelopeHeadersTests {
    /// A verdict in full: the finding as it prints (its reason's words included), or genuine with number and hash.
    static func describe(_ verdict: RecordRules.Authentication) -> String {
        switch verdict {
        case .genuine(let genuine): "genuine \(genuine.record.sequence) \(genuine.hash)"
        case .refused(let record, let finding): "\(finding) \(record.map { "\($0.sequence)" } ?? "-")"
        }
    }

    /// A parse in full: the error's words, or the fields.
    static func describe(_ parse: () throws(EnvelopeError) -> Envelope) -> String {
        do {
            let envelope = try parse()
            return "\(envelope.algorithm) \(envelope.keyID ?? "-") \(envelope.payload.count) \(envelope.signature)"
        } catch {
            return "error: \(error.description)"
        }
    }

    /// `envelope` with its header part replaced by `header` (base64url-encoded unless `raw`).
    static func withHeader(_ envelope: String, _ header: String, raw: Bool = false) -> String {
        let parts = envelope.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return [raw ? header : Base64URL.encode(Data(header.utf8)), parts[1], parts[2]].joined(separator: ".")
    }

    @Test("shared, broken and many distinct headers in one batch: each envelope's verdict and words as alone")
    func sameVerdicts() throws {
        var chain = ChainBuilder()
        let genuine = try (0..<40).map { _ in try chain.next() }
        let ledger = MemoryRecordLedger(keys: [chain.signer.key.identity])
        let kid = chain.signer.keyID
        let broken: [(String, Bool)] = [
            (#"{"alg":"EdDSA","kid":"\#(kid)","crit":["exp"]}"#, false),  // crit: malformed
            (#"{"alg":"none","kid":"\#(kid)"}"#, false),  // another alg: bad signature
            (#"{"kid":"\#(kid)"}"#, false),  // no alg: malformed
            ("not base64!", true),  // malformed
            (#"{"alg":"EdDSA"}"#, false),  // no kid: unknown key
            (#"{"alg":"EdDSA","kid":"someone-else"}"#, false),  // unknown key
            (#"{"kid":"\#(kid)","alg":"EdDSA"}"#, false),  // same meaning, other bytes: the signature fails
            ("[1,2]", false),  // not an object: malformed
        ]
        var texts: [String] = []
        for (index, envelope) in genuine.enumerated() {
            texts.append(envelope)
            // Each broken header twice (the second time from the cache), between genuine records.
            let (header, raw) = broken[index % broken.count]
            texts.append(Self.withHeader(envelope, header, raw: raw))
            // More distinct headers than the cache keeps: the ones past its limit are parsed each time.
            texts.append(Self.withHeader(envelope, #"{"alg":"EdDSA","kid":"\#(kid)","n":\#(index)}"#))
        }
        let key: (String) -> RegisteredKey? = { ledger.key(id: $0) }
        let batch = RecordRules.authenticate(batch: texts, sender: chain.signer.deviceID, key: key).verdicts
        let alone = texts.map { RecordRules.authenticate($0, sender: chain.signer.deviceID, key: key) }
        #expect(batch.map(Self.describe) == alone.map(Self.describe))
        #expect(batch.map(Self.describe).filter { $0.hasPrefix("genuine") }.count == genuine.count)

        var headers = EnvelopeHeaders()
        for text in texts + texts.reversed() {
            #expect(
                Self.describe { () throws(EnvelopeError) in try Envelope(text, headers: &headers) }
                    == Self.describe { () throws(EnvelopeError) in try Envelope(text) })
        }
    }
}
