import Foundation
import PanicCore
import Testing

@Suite("RecordBatch.jsonBytes: the batch body written directly reads back as the same batch")
struct RecordBatchWireTests {
    /// Strings a batch may carry from a hostile or odd command nonce: every character JSON must escape, the ones it
    /// need not, and non-ASCII text.
    static let awkward = [
        "", "plain", "quote \" inside", "back\\slash", "\\\"", "line\nfeed\r\ttab", "\u{0}\u{1}\u{1F}\u{7F}",
        "\u{8}\u{C}", "ünïcødé ✓ 🚨", "/slash/", "ends with \\",
    ]

    @Test("every escape: JSONDecoder reads back exactly the batch, for every field and with optionals absent")
    func roundTrip() throws {
        let batches = [
            RecordBatch(device: "box-1", envelopes: []),
            RecordBatch(
                device: "box \"2\"", envelopes: Self.awkward, commandAcks: Self.awkward.reversed(),
                commandRefusals: Self.awkward.map { CommandRefusalReport(nonce: $0, reason: "forged\n\($0)") },
                proof: "a.b.c"),
            RecordBatch(
                device: "box-3", envelopes: (0..<500).map { "eyJhbGciOiJFZERTQSJ9.\($0).sig-_" }, commandAcks: ["n1"],
                commandRefusals: [], proof: nil),
        ]
        for batch in batches {
            let bytes = batch.jsonBytes()
            #expect(try JSONDecoder().decode(RecordBatch.self, from: Data(bytes)) == batch)
            // The same object JSONEncoder writes, key for key (JSONSerialization compares values, not text).
            let ours = try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary
            let theirs = try JSONSerialization.jsonObject(with: JSONEncoder().encode(batch)) as? NSDictionary
            #expect(ours != nil && ours == theirs)
        }
    }

    @Test("control characters are written as escapes, never raw (a raw one is invalid JSON)")
    func noRawControlCharacters() {
        let bytes = RecordBatch(device: "\u{0}\u{1F}\n", envelopes: ["\t"]).jsonBytes()
        #expect(!bytes.contains { $0 < 0x20 })
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""device":"\u0000\u001f\n""#))
    }

    static func responses() -> [RecordBatchResponse] {
        let results = [
            RecordResult(status: .accepted), RecordResult(status: .duplicate, sequence: 7),
            RecordResult(status: .rejected, sequence: -1, reason: .badSignature),
            RecordResult(status: .rejected, reason: .unknownDevice),
        ]
        let time = RecordTime(epochMilliseconds: 1_765_000_000_123)
        return [
            RecordBatchResponse(results: [], alerts: [], commands: []),
            RecordBatchResponse(
                results: Array(repeating: results, count: 125).flatMap { $0 }, alerts: [],
                commands: ["a.b.c", "d.e.f"],
                authentication: BatchAuthentication(verified: true, serverTime: time)),
            RecordBatchResponse(
                results: results, alerts: [], commands: awkward,
                authentication: BatchAuthentication(verified: false, refusal: .stale, serverTime: time, checked: true)),
            RecordBatchResponse(
                results: results, alerts: [RemoteAlertState(alert: "a-1", state: .acknowledged)], commands: []),
        ]
    }

    @Test("answers: read back as JSONDecoder reads them, directly unless they carry alert states or escapes")
    func answers() throws {
        for response in Self.responses() {
            for sorted in [false, true] {
                let encoder = JSONEncoder()
                encoder.outputFormatting = sorted ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
                let payload = try encoder.encode(response)
                #expect(try RecordBatchResponse.decode(json: payload) == response)
                let direct = RecordBatchResponse.direct(payload)
                #expect(direct == nil || direct == response)
                #expect((direct != nil) == (response.alerts.isEmpty && response.commands.allSatisfy(Self.plain)))
            }
        }
        for batch in [
            RecordBatch(device: "b", envelopes: ["x.y.z"], commandAcks: ["n"], commandRefusals: nil, proof: "p.q.r"),
            RecordBatch(device: "b", envelopes: Self.awkward, commandRefusals: [.init(nonce: "n", reason: "r")]),
        ] {
            let payload = Data(batch.jsonBytes())
            #expect(try RecordBatch.decode(json: payload) == batch)
            let direct = RecordBatch.direct(payload)
            #expect((direct != nil) == batch.envelopes.allSatisfy(Self.plain))
            #expect(direct == nil || direct == batch)
        }
    }

    /// A string JSON writes without an escape.
    static func plain(_ text: String) -> Bool { !text.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } }

    @Test("10,000 mutated answers and batches: whenever the direct reading answers, JSONDecoder answers the same")
    func mutated() throws {
        var seed: UInt64 = 140  // fixed: a failure reproduces
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        let alphabet = Array(#"{}[]:,"\ -+.eE0123456789tfnul"#.utf8) + [0x00, 0x1F, 0xC3, 0xFF]
        let encoder = JSONEncoder()
        let samples =
            try Self.responses().map { try encoder.encode($0) }
            + [RecordBatch(device: "b", envelopes: ["x.y.z", "1.2.3"], commandAcks: ["n"], proof: "p")].map {
                Data($0.jsonBytes())
            }
        var answered = 0
        for round in 0..<10_000 {
            var bytes = [UInt8](samples[round % samples.count])
            for _ in 0...next(3) where !bytes.isEmpty {
                let at = next(bytes.count)
                switch next(3) {
                case 0: bytes[at] = alphabet[next(alphabet.count)]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[next(alphabet.count)], at: at)
                }
            }
            let payload = Data(bytes)
            if let direct = RecordBatchResponse.direct(payload) {
                answered += 1
                #expect(direct == (try? JSONDecoder().decode(RecordBatchResponse.self, from: payload)))
            }
            if let direct = RecordBatch.direct(payload) {
                answered += 1
                #expect(direct == (try? JSONDecoder().decode(RecordBatch.self, from: payload)))
            }
        }
        #expect(answered > 200)  // mutations that leave valid JSON (a digit for a digit, say) are read
    }
}
