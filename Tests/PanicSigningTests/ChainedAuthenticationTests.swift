import Crypto
import Foundation
import PanicCore
import PanicSigning
import Testing

/// What a verdict says, in a form tests compare: the finding's name (or `genuine`) and the record's number.
private func summary(_ verdict: RecordRules.Authentication) -> String {
    switch verdict {
    case .genuine(let genuine): "genuine \(genuine.record.sequence) \(genuine.hash)"
    case .refused(let record, let finding): "\(finding.name) \(record.map { "\($0.sequence)" } ?? "-")"
    }
}

/// `envelope` with its payload's JSON text changed by `edit`, its signature bytes kept.
private func altered(_ envelope: String, _ edit: (String) -> String) throws -> String {
    let parts = envelope.split(separator: ".").map(String.init)
    let payload = try #require(Base64URL.decode(parts[1]))
    let text = edit(String(decoding: payload, as: UTF8.self))
    #expect(text != String(decoding: payload, as: UTF8.self), "the edit changed nothing")
    return [parts[0], Base64URL.encode(Data(text.utf8)), parts[2]].joined(separator: ".")
}

/// `envelope` with one bit of its signature flipped.
private func resigned(_ envelope: String) throws -> String {
    let parts = envelope.split(separator: ".").map(String.init)
    var signature = try #require(Base64URL.decode(parts[2]))
    signature[7] ^= 0x01
    return [parts[0], parts[1], Base64URL.encode(signature)].joined(separator: ".")
}

/// `envelope` with its payload's `prev` replaced by `previous` (the attacker recomputing the chain; the signature
/// is kept, as only the device can make a new one).
private func relinked(_ envelope: String, to previous: String) throws -> String {
    try altered(envelope) { text in
        let start = text.range(of: #""prev":""#)!
        let end = text[start.upperBound...].firstIndex(of: "\"")!
        return text.replacingCharacters(in: start.upperBound..<end, with: previous)
    }
}

/// A position moved: the kind of change a forger wants.
private func moved(_ text: String) -> String {
    text.replacingOccurrences(of: #""time":"#, with: #""lat":19.07,"time":"#)
}

@Suite("Record rules: one signature per hash-chained run")
struct ChainedAuthenticationTests {
    static func ledger(_ chains: ChainBuilder...) -> MemoryRecordLedger {
        MemoryRecordLedger(keys: chains.map(\.signer.key.identity))
    }

    /// Each envelope through the rules alone: the verdicts the batch must give.
    static func alone(_ envelopes: [String], sender: String? = nil, _ ledger: MemoryRecordLedger) -> [String] {
        envelopes.map { text in
            let single = RecordRules.authenticate(batch: [text], sender: sender, key: { ledger.key(id: $0) })
            #expect(single.signaturesChecked <= 1)
            return summary(single.verdicts[0])
        }
    }

    static func batch(
        _ envelopes: [String], sender: String? = nil, _ ledger: MemoryRecordLedger, failureLimit: Int = .max
    ) -> (verdicts: [String], checked: Int) {
        let result = RecordRules.authenticate(
            batch: envelopes, sender: sender, failureLimit: failureLimit, key: { ledger.key(id: $0) })
        return (result.verdicts.map(summary), result.signaturesChecked)
    }

    @Test("a chained run costs one signature check, and every record is genuine as it is alone")
    func oneCheckPerRun() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<50).map { _ in try chain.next() }
        let ledger = Self.ledger(chain)
        let (verdicts, checked) = Self.batch(envelopes, sender: chain.signer.deviceID, ledger)
        #expect(checked == 1)
        #expect(verdicts == Self.alone(envelopes, sender: chain.signer.deviceID, ledger))
        #expect(verdicts.allSatisfy { $0.hasPrefix("genuine") })
        // Shuffled, the run is the same run: still one check.
        #expect(Self.batch(envelopes.reversed(), ledger).checked == 1)
    }

    @Test(
        "a middle record altered — its payload or its signature, the next record's prev recomputed or not — is refused as bad-signature; the records before it are genuine"
    )
    func alteredMiddle() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<10).map { _ in try chain.next() }
        let ledger = Self.ledger(chain)
        let middle = 4
        var payload = envelopes
        payload[middle] = try altered(envelopes[middle], moved)
        var signature = envelopes
        signature[middle] = try resigned(envelopes[middle])
        // The forger also rewrites the next record's prev to the altered record's hash (its signature kept).
        var recomputed = payload
        recomputed[middle + 1] = try relinked(envelopes[middle + 1], to: Envelope.hash(recomputed[middle]))
        // ... and every later prev up to the end: the last record's signature then fails too.
        var toTheEnd = recomputed
        for index in (middle + 2)..<toTheEnd.count {
            toTheEnd[index] = try relinked(envelopes[index], to: Envelope.hash(toTheEnd[index - 1]))
        }
        for (name, batch, refused) in [
            ("payload", payload, middle...middle), ("signature", signature, middle...middle),
            ("payload, next prev recomputed", recomputed, middle...(middle + 1)),
            ("payload, every prev recomputed", toTheEnd, middle...(envelopes.count - 1)),
        ] {
            let (verdicts, _) = Self.batch(batch, sender: chain.signer.deviceID, ledger)
            #expect(verdicts == Self.alone(batch, sender: chain.signer.deviceID, ledger), "\(name)")
            for (index, verdict) in verdicts.enumerated() {
                if refused.contains(index) {
                    #expect(verdict == "bad-signature -", "\(name): record \(index + 1): \(verdict)")
                } else {
                    #expect(verdict.hasPrefix("genuine \(index + 1) "), "\(name): record \(index + 1): \(verdict)")
                }
            }
        }
    }

    @Test(
        "a run whose last signature is forged: the last is refused, the ones before are checked again from the one before it (one more check), not refused wholesale"
    )
    func forgedLast() throws {
        var chain = ChainBuilder()
        var envelopes = try (0..<20).map { _ in try chain.next() }
        let ledger = Self.ledger(chain)
        let last = envelopes.count - 1
        for forged in [try resigned(envelopes[last]), try altered(envelopes[last], moved)] {
            envelopes[last] = forged
            let (verdicts, checked) = Self.batch(envelopes, sender: chain.signer.deviceID, ledger)
            #expect(verdicts == Self.alone(envelopes, sender: chain.signer.deviceID, ledger))
            #expect(verdicts[last] == "bad-signature -")
            #expect(verdicts[..<last].allSatisfy { $0.hasPrefix("genuine") })
            #expect(checked == 2)
        }
        // The last two forged, the last one's prev rewritten to the forged one before it: a forged record vouches
        // for nothing, so both are refused and the run is checked again from the record before them.
        var pair = envelopes
        pair[last - 1] = try altered(envelopes[last - 1], moved)
        pair[last] = try relinked(try altered(envelopes[last], moved), to: Envelope.hash(pair[last - 1]))
        let (pairVerdicts, pairChecked) = Self.batch(pair, sender: chain.signer.deviceID, ledger)
        #expect(pairVerdicts == Self.alone(pair, sender: chain.signer.deviceID, ledger))
        #expect(pairVerdicts[(last - 1)...] == ["bad-signature -", "bad-signature -"])
        #expect(pairVerdicts[..<(last - 1)].allSatisfy { $0.hasPrefix("genuine") })
        #expect(pairChecked == 3)
        // A signature made with another key over the record's own payload: the same.
        let stranger = RecordSigner(key: .generate())
        let parts = envelopes[last].split(separator: ".").map(String.init)
        let signingInput = parts[0] + "." + parts[1]
        let foreign = try stranger.key.privateKey.signature(for: Data(signingInput.utf8))
        envelopes[last] = signingInput + "." + Base64URL.encode(foreign)
        let (verdicts, _) = Self.batch(envelopes, sender: chain.signer.deviceID, ledger)
        #expect(verdicts[last] == "bad-signature -")
        #expect(verdicts[..<last].allSatisfy { $0.hasPrefix("genuine") })
    }

    @Test(
        "a prev that points at a record not in the batch links nothing: a forged record in its place is refused, the genuine ones after it are genuine"
    )
    func previousOutsideTheBatch() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<12).map { _ in try chain.next() }
        let ledger = Self.ledger(chain)
        // Records 6...12: record 6's prev is record 5's hash, and record 5 is not sent.
        let tail = Array(envelopes[5...])
        let (verdicts, checked) = Self.batch(tail, sender: chain.signer.deviceID, ledger)
        #expect(verdicts.allSatisfy { $0.hasPrefix("genuine") })
        #expect(checked == 1)
        // A forged record 5 (record 5 altered) put in front: record 6 does not link to it.
        let forged = try altered(envelopes[4], moved)
        let (withForged, _) = Self.batch([forged] + tail, sender: chain.signer.deviceID, ledger)
        #expect(withForged[0] == "bad-signature -")
        #expect(withForged[1...].allSatisfy { $0.hasPrefix("genuine") })
        // A forged record whose own prev names a record that is not there.
        let orphan = try relinked(try altered(envelopes[8], moved), to: "not-a-hash-in-this-batch")
        let (alone, _) = Self.batch(Array(envelopes[..<8]) + [orphan], sender: chain.signer.deviceID, ledger)
        #expect(alone[8] == "bad-signature -")
        #expect(alone[..<8].allSatisfy { $0.hasPrefix("genuine") })
    }

    @Test(
        "two devices' records interleaved: one check per device's run, a forgery in one leaves the other genuine, and one device's genuine record cannot vouch for the other's"
    )
    func twoDevicesInterleaved() throws {
        var a = ChainBuilder()
        var b = ChainBuilder()
        let aEnvelopes = try (0..<8).map { _ in try a.next() }
        let bEnvelopes = try (0..<8).map { _ in try b.next() }
        let ledger = Self.ledger(a, b)
        let mixed = zip(aEnvelopes, bEnvelopes).flatMap { [$0, $1] }
        let (verdicts, checked) = Self.batch(mixed, ledger)
        #expect(verdicts.allSatisfy { $0.hasPrefix("genuine") })
        #expect(checked == 2)
        // A's record 3 altered: refused; B's all genuine.
        var forged = mixed
        forged[4] = try altered(mixed[4], moved)
        let (forgedVerdicts, _) = Self.batch(forged, ledger)
        #expect(forgedVerdicts == Self.alone(forged, ledger))
        #expect(forgedVerdicts[4] == "bad-signature -")
        #expect(forgedVerdicts.enumerated().allSatisfy { $0.offset == 4 || $0.element.hasPrefix("genuine") })
        // Device B's key (compromised, or a bug) signs a record whose prev is the hash of a forgery in A's name,
        // numbered to follow it: B's signature vouches only for B's records.
        let forgery = try altered(aEnvelopes[7], moved)
        let vouching = try b.signer.seal(
            Record(
                device: b.signer.deviceID, sequence: 9, previousHash: Envelope.hash(forgery),
                draft: RecordDraft(
                    id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1_740_823_530_999),
                    timeSource: .gnss, fix: nil, body: .position))
        ).envelope
        let (spliced, _) = Self.batch([forgery, vouching], ledger)
        #expect(spliced[0] == "bad-signature -")
        #expect(spliced[1].hasPrefix("genuine 9"))
        // The same with A's number: B signs a record claiming to be A's record 9.
        let impostor = try b.signer.sign(
            payload: RecordSigner.payload(
                Record(
                    device: a.signer.deviceID, sequence: 9, previousHash: Envelope.hash(forgery),
                    draft: RecordDraft(
                        id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1_740_823_531_000),
                        timeSource: .gnss, fix: nil, body: .position)))
        ).envelope
        let (impostorVerdicts, _) = Self.batch([forgery, impostor], ledger)
        #expect(impostorVerdicts == ["bad-signature -", "device-mismatch 9"])
    }

    @Test("a hostile batch costs at most the failure limit's checks; the rest are refused unchecked")
    func failureLimit() throws {
        var chain = ChainBuilder()
        let envelopes = try (0..<100).map { _ in try resigned(try chain.next()) }
        let ledger = Self.ledger(chain)
        let result = RecordRules.authenticate(
            batch: envelopes, sender: chain.signer.deviceID, failureLimit: 16, key: { ledger.key(id: $0) })
        #expect(result.signaturesChecked == 16)
        #expect(result.failures == 16)
        #expect(result.verdicts.allSatisfy { summary($0) == "bad-signature -" })
        let notChecked = result.verdicts.filter { "\($0)".contains("not checked") }
        #expect(notChecked.count == 84)
    }

    @Test(
        "random damage to a batch of three devices' records — altered payloads, signatures and prevs, duplicates, forks, reordering, foreign devices — gives the verdicts each envelope gets alone"
    )
    func sameAsAlone() throws {
        var generator = SplitMix(seed: 29)
        var chains = [ChainBuilder(), ChainBuilder(), ChainBuilder()]
        let ledger = Self.ledger(chains[0], chains[1])  // the third device is not registered
        var pool: [String] = []
        for index in 0..<3 {
            pool += try (0..<30).map { _ in try chains[index].next() }
        }
        var altogether = 0
        for round in 0..<60 {
            var batch = pool
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<batch.count, using: &generator)
                switch Int.random(in: 0..<6, using: &generator) {
                case 0: batch[index] = try altered(batch[index], moved)
                case 1: batch[index] = try resigned(batch[index])
                case 2:
                    let other = Int.random(in: 0..<batch.count, using: &generator)
                    if batch[index].contains(#""prev":""#) {
                        batch[index] = try relinked(batch[index], to: Envelope.hash(batch[other]))
                    }
                case 3: batch.append(batch[index])  // a resend in the same batch
                case 4: batch.remove(at: index)
                default:
                    // A fork: another genuine record under a used number, signed by its device.
                    let device = index / 30
                    var fork = chains[min(device, 2)]
                    fork.sequence = Int64(index % 30)
                    fork.previous = nil
                    batch.append(try fork.next())
                }
            }
            if round % 2 == 1 { batch.shuffle(using: &generator) }
            let (verdicts, checked) = Self.batch(batch, ledger)
            #expect(verdicts == Self.alone(batch, ledger), "round \(round)")
            altogether += checked
        }
        // Far fewer checks than envelopes (60 rounds of about 90).
        #expect(altogether < 60 * 90 / 3, "\(altogether) checks")
    }

    @Test("panicd verify's stream verification finds the same as before: the altered line, and nothing else")
    func streamVerification() throws {
        var chain = ChainBuilder()
        var envelopes = try (0..<10).map { _ in try chain.next() }
        envelopes[6] = try altered(envelopes[6], moved)
        var verifier = RecordVerifier()
        verifier.register(chain.signer.key.identity)
        let result = StreamVerification(text: envelopes.joined(separator: "\n") + "\n", verifier: verifier)
        #expect(result.problems.map(\.line) == [7, nil])  // the forged line, then the gap it leaves
        #expect(result.problems.map(\.finding.name) == ["bad-signature", "gap"])
    }
}

/// A small seeded generator, so a failing round can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
