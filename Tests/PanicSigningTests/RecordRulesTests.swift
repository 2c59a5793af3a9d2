import Foundation
import PanicCore
import PanicSigning
import Testing

@Suite("Record rules over the memory ledger")
struct RecordRulesTests {
    @Test("the memory ledger stores what the rules admit and answers by sequence number and record id")
    func memoryLedger() throws {
        var chain = ChainBuilder()
        let envelope = try chain.next()
        var ledger = MemoryRecordLedger(keys: [chain.signer.key.identity])
        #expect(ledger.key(id: chain.signer.keyID)?.device == chain.signer.deviceID)
        #expect(ledger.key(id: "nobody") == nil)
        guard case .stored(let record, let hash, let findings) = try RecordRules.admit(envelope, into: &ledger) else {
            Issue.record("not stored")
            return
        }
        #expect(findings.isEmpty)
        #expect(hash == Envelope.hash(envelope))
        #expect(
            ledger.entry(device: record.device, sequence: 1)
                == LedgerEntry(
                    envelopeHash: hash, recordID: record.id, previousHash: nil))
        #expect(ledger.containsRecord(device: record.device, id: record.id))
        #expect(!ledger.containsRecord(device: record.device, id: "other"))
        #expect(ledger.sequences(of: record.device) == [1])
        #expect(try RecordRules.admit(envelope, into: &ledger) == .resent(record))
        #expect(ledger.devices == [record.device])
    }

    @Test("record 1 must have no prev, and every later record must have one")
    func firstRecordHasNoPrevious() throws {
        var chain = ChainBuilder()
        chain.previous = "AAAA"
        let first = try chain.next()
        var ledger = MemoryRecordLedger(keys: [chain.signer.key.identity])
        let device = chain.signer.deviceID
        #expect(try RecordRules.admit(first, into: &ledger).findings == [.brokenChain(device: device, sequence: 1)])

        var other = ChainBuilder()
        other.sequence = 4
        let orphan = try other.next()
        var otherLedger = MemoryRecordLedger(keys: [other.signer.key.identity])
        #expect(
            try RecordRules.admit(orphan, into: &otherLedger).findings == [
                .brokenChain(device: other.signer.deviceID, sequence: 5)
            ])
    }

    @Test("refusals name the wire's rejection reason; findings that only report do not refuse")
    func rejections() throws {
        var chain = ChainBuilder()
        let envelope = try chain.next()
        var ledger = MemoryRecordLedger(keys: [chain.signer.key.identity])
        let mismatch = try RecordRules.admit(envelope, sender: "someone-else", into: &ledger)
        guard case .refused(let record, let finding) = mismatch else {
            Issue.record("not refused: \(mismatch)")
            return
        }
        #expect(record?.sequence == 1)
        #expect(finding.rejection == .deviceMismatch)
        #expect(ledger.sequences(of: chain.signer.deviceID).isEmpty)
        var empty = MemoryRecordLedger()
        #expect(try RecordRules.admit(envelope, into: &empty).findings.map(\.rejection) == [.unknownDevice])
        #expect(try RecordRules.admit("garbage", into: &empty).findings.map(\.rejection) == [.malformed])
        #expect(VerificationFinding.brokenChain(device: "d", sequence: 2).rejection == nil)
        #expect(VerificationFinding.gap(device: "d", from: 1, to: 2).kind.rawValue == "gap")
    }
}
