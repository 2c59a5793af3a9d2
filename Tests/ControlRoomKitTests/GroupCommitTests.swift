import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning
import Testing

/// One group commit holding several requests, given to the store directly (the `ControlRoomStore` seam), so the
/// group is known rather than left to timing: what each request is answered must not depend on the others in its
/// group, except that a later request of a device sees what an earlier one stored.
@Suite("A group commit of many requests", .timeLimit(.minutes(2)))
struct GroupCommitTests {
    @Test(
        "chained requests of one device, a resend and another device in one group: stored once, chained, no findings",
        arguments: StoreKind.all)
    func chainedInOneGroup(_ kind: StoreKind) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await kind.withStore(directory: directory) { store in
            let a = Device()
            let b = Device()
            for device in [a, b] { try await store.addDevice(id: device.id, identity: device.key.identity) }
            let chainA = try a.chain(4)
            let chainB = try b.chain(2)
            let now = RecordTime.systemNow()
            let requests = [
                try a.request([chainA[0]], now: now),
                try a.request([chainA[1], chainA[2]], now: now),
                try b.request(chainB, now: now),
                try a.request([chainA[1]], now: now),  // sent again inside the same group
                try a.request([chainA[3]], now: now),
            ]
            let answers = try await store.ingest(requests, issue: Device.noCommands)
            #expect(
                answers.map { $0.results.map(\.status) } == [
                    [.accepted], [.accepted, .accepted], [.accepted, .accepted], [.duplicate], [.accepted],
                ])
            #expect(answers.map(\.authenticated) == Array(repeating: true, count: 5))
            #expect(answers.map(\.findings.count) == Array(repeating: 0, count: 5))
            #expect(try await store.recordIdentities(device: a.id) == a.identities(chainA))
            #expect(try await store.recordIdentities(device: b.id) == b.identities(chainB))
            #expect(try await store.findings(device: a.id).isEmpty)
            #expect(try await store.gaps(device: a.id).isEmpty)
        }
    }

    @Test(
        "the same proof twice in one group is taken once: the second request is not authenticated",
        arguments: StoreKind.all)
    func replayInOneGroup(_ kind: StoreKind) async throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await kind.withStore(directory: directory) { store in
            let a = Device()
            try await store.addDevice(id: a.id, identity: a.key.identity)
            let chain = try a.chain(1)
            let request = try a.request(chain, now: RecordTime.systemNow())
            let answers = try await store.ingest([request, request], issue: Device.noCommands)
            #expect(answers.map(\.authenticated) == [true, false])
            #expect(answers.map { $0.results.map(\.status) } == [[.accepted], [.duplicate]])
            #expect(try await store.recordIdentities(device: a.id) == a.identities(chain))
        }
    }
}

/// A device of these tests: its key, its records, its requests as the intake hands them to the store.
private struct Device {
    let key = DeviceKey.generate()
    var id: String { key.identity.deviceID }

    static let noCommands: CommandIssuer = { _, _, _, _ in
        throw TestStoreError(description: "no command is issued in these tests")
    }

    func chain(_ count: Int) throws -> [SealedRecord] {
        let signer = RecordSigner(key: key)
        var previous: String?
        return try (1...count).map { index in
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(),
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index)),
                timeSource: .gnss, fix: nil, body: .position)
            let sealed = try signer.seal(
                Record(device: id, sequence: Int64(index), previousHash: previous, draft: draft))
            previous = sealed.hash
            return sealed
        }
    }

    func identities(_ chain: [SealedRecord]) -> [RecordIdentity] {
        chain.enumerated().map { RecordIdentity(sequence: Int64($0.offset + 1), hash: $0.element.hash) }
    }

    /// `records` as the intake passes them on: signatures checked, the request's proof verified.
    func request(_ records: [SealedRecord], now: RecordTime) throws -> IngestRequest {
        let registered = RegisteredKey(device: id, identity: key.identity)
        let genuine = try records.map { sealed -> GenuineRecord in
            guard case .genuine(let record) = RecordRules.authenticate(sealed.envelope, key: { _ in registered }) else {
                throw TestStoreError(description: "a test record did not verify")
            }
            return record
        }
        let batch = try BatchSigner(key: key).sign(
            RecordBatch(device: id, envelopes: records.map(\.envelope)), time: now)
        let claim = try BatchProof.verify(batch, key: registered).get()
        return IngestRequest(device: id, records: genuine, claim: claim, acks: [], now: now)
    }
}
