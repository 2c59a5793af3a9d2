import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// The control room checks one signature per hash-chained run (`RecordRules.authenticate(batch:)`): a forger's
/// batch sent over HTTP on loopback, as a device sends it, must get exactly what per-record checks gave.
@Suite("Record intake over HTTP: one signature per chained run, forgeries still refused", .timeLimit(.minutes(3)))
struct ChainedIntakeTests {
    /// `envelope` with its payload changed by `edit` (or its `prev` set to `previous`), its signature kept.
    static func forged(_ envelope: String, previous: String? = nil) throws -> String {
        let parts = envelope.split(separator: ".").map(String.init)
        var text = String(decoding: try #require(Base64URL.decode(parts[1])), as: UTF8.self)
        if let previous {
            let start = try #require(text.range(of: #""prev":""#))
            let end = try #require(text[start.upperBound...].firstIndex(of: "\""))
            text.replaceSubrange(start.upperBound..<end, with: previous)
        } else {
            text = text.replacingOccurrences(of: "28.61", with: "19.07")
        }
        return [parts[0], Base64URL.encode(Data(text.utf8)), parts[2]].joined(separator: ".")
    }

    static func send(_ fixture: Fixture, _ envelopes: [String], to url: String) async throws -> [RecordResult] {
        let batch = try fixture.signed(RecordBatch(device: fixture.deviceID, envelopes: envelopes))
        let (status, text) = try await post(try JSONEncoder().encode(batch), to: url)
        #expect(status == 200, "\(text)")
        return try JSONDecoder().decode(RecordBatchResponse.self, from: Data(text.utf8)).results
    }

    @Test(
        "a middle record altered (payload, or also the next record's prev), or the last record's signature forged: exactly those refused as bad-signature, the rest stored, the forgery never",
        arguments: StoreKind.all)
    func forgeriesInARun(_ kind: StoreKind) async throws {
        try await Fixture.with(kind) { fixture in
            let chain = try fixture.chain(40)
            let genuine = chain.map(\.envelope)
            try await serving(fixture.room) { url in
                // Records 1...10: record 6 altered, its signature kept.
                var first = Array(genuine[0..<10])
                first[5] = try Self.forged(first[5])
                var results = try await Self.send(fixture, first, to: url)
                #expect(results.map(\.status) == (0..<10).map { $0 == 5 ? .rejected : .accepted })
                #expect(results[5].reason == .badSignature)
                // Records 11...20: record 16 altered and record 17's prev rewritten to match it.
                var second = Array(genuine[10..<20])
                second[5] = try Self.forged(second[5])
                second[6] = try Self.forged(second[6], previous: Envelope.hash(second[5]))
                results = try await Self.send(fixture, second, to: url)
                #expect(results.map(\.status) == (0..<10).map { (5...6).contains($0) ? .rejected : .accepted })
                #expect(results[5...6].allSatisfy { $0.reason == .badSignature })
                // Records 21...40: the last one's signature is another key's.
                var third = Array(genuine[20..<40])
                let parts = third[19].split(separator: ".").map(String.init)
                let signature = try DeviceKey.generate().privateKey.signature(
                    for: Data((parts[0] + "." + parts[1]).utf8))
                third[19] = parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
                results = try await Self.send(fixture, third, to: url)
                #expect(results.map(\.status) == (0..<20).map { $0 == 19 ? .rejected : .accepted })
                #expect(results[19].reason == .badSignature)
                // What is stored is exactly the genuine envelopes that were accepted.
                #expect(try await fixture.room.recordCount() == 40 - 4)
                let gaps = try await fixture.room.gaps(device: fixture.deviceID)
                #expect(gaps == [6...6, 16...17], "\(gaps)")
                // The genuine records then fill the holes.
                let filled = try await Self.send(fixture, [genuine[5], genuine[15], genuine[16], genuine[39]], to: url)
                #expect(filled.map(\.status) == [.accepted, .accepted, .accepted, .accepted])
                #expect(try await fixture.room.findings(device: fixture.deviceID).isEmpty)
            }
        }
    }
}
