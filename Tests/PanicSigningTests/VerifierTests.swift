import Foundation
import PanicCore
import PanicSigning
import Testing

/// Builds a genuine chain of envelopes without the outbox.
struct ChainBuilder {
    let signer = RecordSigner(key: .generate())
    var previous: String?
    var sequence: Int64 = 0

    mutating func next(_ body: RecordBody = .position) throws -> String {
        sequence += 1
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1_740_823_530_250 + sequence),
            timeSource: .gnss, fix: nil, body: body)
        let sealed = try signer.seal(
            Record(device: signer.deviceID, sequence: sequence, previousHash: previous, draft: draft))
        previous = sealed.hash
        return sealed.envelope
    }
}

@Suite("Record verifier")
struct VerifierTests {
    @Test("a genuine chain verifies, in any order, with no gap")
    func genuine() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<6).map { _ in try chain.next() }
        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        for envelope in [envelopes[0], envelopes[3], envelopes[1], envelopes[5], envelopes[2], envelopes[4]] {
            let findings = verifier.verify(envelope).findings
            #expect(findings.count == 1 && findings[0].isOK, "\(findings)")
        }
        #expect(verifier.gaps().isEmpty)
    }

    @Test("a missing record is a gap")
    func gap() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<5).map { _ in try chain.next() }
        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        for index in [0, 1, 4] { _ = verifier.verify(envelopes[index]) }
        #expect(verifier.gaps() == [.gap(device: chain.signer.deviceID, from: 3, to: 4)])
    }

    @Test("the same envelope twice is a replay")
    func replay() throws {
        var chain = ChainBuilder()
        let envelope = try chain.next(.emergency(input: "panic-front"))
        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        _ = verifier.verify(envelope)
        #expect(verifier.verify(envelope).findings == [.replay(device: chain.signer.deviceID, sequence: 1)])
    }

    @Test("a different record with a seen sequence number is a fork")
    func fork() throws {
        var chain = ChainBuilder()
        let first = try chain.next()
        var other = chain
        other.sequence = 0
        other.previous = nil
        let forked = try other.next(.help(input: "help"))
        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        _ = verifier.verify(first)
        #expect(verifier.verify(forked).findings == [.fork(device: chain.signer.deviceID, sequence: 1)])
    }

    @Test("a wrong previous hash is a broken chain")
    func brokenChain() throws {
        var chain = ChainBuilder()
        let first = try chain.next()
        chain.previous = "AAAA"
        let second = try chain.next()
        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        _ = verifier.verify(first)
        #expect(verifier.verify(second).findings == [.brokenChain(device: chain.signer.deviceID, sequence: 2)])
    }

    @Test("an unregistered key, a bad signature and garbage are each their own finding")
    func distinctFailures() throws {
        var chain = ChainBuilder()
        let envelope = try chain.next()
        var stranger = RecordVerifier(keys: [DeviceKey.generate().identity])
        #expect(stranger.verify(envelope).findings == [.unknownKey(keyID: chain.signer.keyID)])

        var verifier = RecordVerifier(keys: [chain.signer.key.identity])
        var parts = envelope.split(separator: ".").map(String.init)
        var payload = try #require(Base64URL.decode(parts[1]))
        payload[payload.startIndex + 20] ^= 1
        parts[1] = Base64URL.encode(payload)
        let findings = verifier.verify(parts.joined(separator: ".")).findings
        #expect(findings.first?.name == "bad-signature", "\(findings)")
        #expect(verifier.verify("not.a-jws").findings.first?.name == "malformed")
        #expect(verifier.verify("{}").findings.first?.name == "malformed")
    }

    @Test("records round-trip through JSON with stable field names")
    func recordJSON() throws {
        let fix = RecordFix(
            latitude: 12.9716, longitude: 77.5946, altitude: 920, speed: 31, course: 90, mode: .threeD, hdop: 0.8,
            satellites: 9, fixTime: RecordTime(rfc3339: "2025-03-01T10:15:30.000Z"), ageMilliseconds: 1200)
        let bodies: [RecordBody] = [
            .emergency(input: "panic-front"), .help(input: "help"), .cleared(alert: "a1", by: "control-room"),
            .tamper(reason: .wireCut, input: "panic-rear"), .power(state: .lost, input: "mains"), .position,
            .health(HealthReport(queueDepth: 3, droppedRecords: 2, faults: ["disk-full"])),
        ]
        for body in bodies {
            let record = Record(
                device: "pb-1", sequence: 7, previousHash: "h",
                draft: RecordDraft(
                    id: "u", time: RecordTime(epochMilliseconds: 1_740_823_530_250), timeSource: .system, fix: fix,
                    body: body))
            let json = try RecordSigner.payload(record)
            #expect(try JSONDecoder().decode(Record.self, from: json) == record)
            let text = String(decoding: json, as: UTF8.self)
            #expect(text.contains(#""time":"2025-03-01T10:05:30.250Z""#), "\(text)")
            #expect(text.contains(#""kind":"\#(body.kind.rawValue)""#))
            #expect(text.contains(#""seq":7"#) && text.contains(#""prev":"h""#) && text.contains(#""ageMs":1200"#))
        }
    }
}
