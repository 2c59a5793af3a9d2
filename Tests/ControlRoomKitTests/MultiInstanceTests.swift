import ControlRoomKit
import ControlRoomPostgres
import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore
import Synchronization
import Testing

/// Two control-room instances (two stores, two connection pools) on one PostgreSQL database, as two
/// `controlroom serve` processes would be: what one stores, the other sees and acts on; what both are sent at
/// once is stored once; a command is issued once.
@Suite(
    "Several instances on one PostgreSQL database", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: StoreKind.all.contains(.postgres), "needs PANICBRIDGE_TEST_POSTGRES (make postgres-start)"))
struct MultiInstanceTests {
    /// Runs `body` with two control rooms sharing one fresh database and one control-room key.
    func withTwo(_ body: (ControlRoom, ControlRoom, PostgresControlRoomStore) async throws -> Void) async throws {
        try await StoreKind.withPostgresDatabase { url in
            let key = DeviceKey.generate()
            try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { first in
                try await PostgresControlRoomStore.with(url: url, logger: StoreKind.quiet) { second in
                    try await body(
                        ControlRoom(store: first, key: key, logger: StoreKind.quiet),
                        ControlRoom(store: second, key: key, logger: StoreKind.quiet), second)
                }
            }
        }
    }

    func records(_ signer: RecordSigner, device: String, count: Int, alertAt: Set<Int> = []) throws -> [SealedRecord] {
        var previous: String?
        return try (1...count).map { index in
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(),
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index)),
                timeSource: .gnss, fix: RecordFix(latitude: 28.61, longitude: 77.2, ageMilliseconds: 900),
                body: alertAt.contains(index) ? .emergency(input: "panic-1") : .position)
            let sealed = try signer.seal(
                Record(device: device, sequence: Int64(index), previousHash: previous, draft: draft))
            previous = sealed.hash
            return sealed
        }
    }

    @Test("an alert stored through one instance is seen and accepted on the other; its command is issued once")
    func alertAcrossInstances() async throws {
        try await withTwo { a, b, _ in
            let key = DeviceKey.generate()
            let device = key.identity.deviceID
            try await a.addDevice(id: device, publicKey: key.identity.jwk)
            // The registry is the database's: b trusts the device at its next request, with no reload.
            let sealed = try records(RecordSigner(key: key), device: device, count: 3, alertAt: [2])
            let batch = try BatchSigner(key: key).sign(
                RecordBatch(device: device, envelopes: sealed.map(\.envelope)), time: .systemNow())
            let stored = try await b.receive(batch)
            #expect(stored.results.map(\.status) == [.accepted, .accepted, .accepted])
            let alert = try #require(try await a.openAlerts().first)
            // Two operators on two instances press Accept at once: one wins, the other is told the state.
            async let first = (try? await a.accept(device: device, alert: alert.id)) != nil
            async let second = (try? await b.accept(device: device, alert: alert.id)) != nil
            let outcomes = await [first, second]
            #expect(outcomes.count { $0 } == 1)
            // Polled through either instance, the device gets exactly one accept command.
            let poll = try BatchSigner(key: key).sign(RecordBatch(device: device, envelopes: []), time: .systemNow())
            let answer = try await a.receive(poll)
            #expect(answer.commands.count == 1)
            #expect(answer.alerts == [RemoteAlertState(alert: alert.id, state: .acknowledged)])
            // The proof's nonce is taken in the database: replayed to the other instance, it is refused.
            #expect(try await b.receive(poll).authentication?.refusal == .replayed)
            // Removal through b is revocation on a within a second: a's cached registry is dropped by the
            // notification b's commit sends, and trusted for at most half a second without reading the generation
            // in any case. (The deadline is longer: a loaded CI machine runs the queries slowly.)
            try await b.removeDevice(id: device)
            let deadline = ContinuousClock.now + .seconds(10)
            var refusal: BatchProofRefusal?
            while ContinuousClock.now < deadline {
                let late = try BatchSigner(key: key).sign(
                    RecordBatch(device: device, envelopes: []), time: .systemNow())
                refusal = try await a.receive(late).authentication?.refusal
                if refusal == .unknownDevice { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(refusal == .unknownDevice)
        }
    }

    @Test("the same records sent to both instances at once are stored once, by identity")
    func concurrentDuplicates() async throws {
        try await withTwo { a, b, _ in
            let key = DeviceKey.generate()
            let device = key.identity.deviceID
            try await a.addDevice(id: device, publicKey: key.identity.jwk)
            let sealed = try records(RecordSigner(key: key), device: device, count: 200)
            let envelopes = sealed.map(\.envelope)
            try await withThrowingTaskGroup(of: [RecordResult].self) { group in
                for room in [a, b, a, b] {
                    group.addTask {
                        let batch = try BatchSigner(key: key).sign(
                            RecordBatch(device: device, envelopes: envelopes), time: .systemNow())
                        return try await room.receive(batch).results
                    }
                }
                var accepted = 0
                for try await results in group { accepted += results.count { $0.status == .accepted } }
                #expect(accepted == 200)
            }
            let identities = try await b.recordIdentities(device: device)
            #expect(
                identities
                    == sealed.enumerated().map { RecordIdentity(sequence: Int64($0.offset + 1), hash: $0.element.hash) }
            )
            #expect(try await a.findings(device: device).isEmpty)
        }
    }

    @Test("a change stored through one instance wakes the other's desk push channel (LISTEN/NOTIFY)")
    func deskFeed() async throws {
        try await withTwo { a, b, storeB in
            let signal = DeskSignal()
            let feed = PostgresDeskFeed(store: storeB, signal: signal)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await feed.run() }
                // The feed pokes once when its LISTEN is in place.
                let listening = await signal.changed(after: 0, within: .seconds(20))
                #expect(listening != nil)
                let key = DeviceKey.generate()
                let device = key.identity.deviceID
                try await a.addDevice(id: device, publicKey: key.identity.jwk)
                let sealed = try records(RecordSigner(key: key), device: device, count: 1, alertAt: [1])
                let before = signal.version
                _ = try await a.receive(RecordBatch(device: device, envelopes: sealed.map(\.envelope)))
                #expect(await signal.changed(after: before, within: .seconds(20)) != nil)
                #expect(try await b.openAlerts().count == 1)
                group.cancelAll()
            }
        }
    }
}

extension DeskSignal {
    /// The version once it is above `after`, or nil when `limit` passed first.
    func changed(after: UInt64, within limit: Duration) async -> UInt64? {
        await withTaskGroup(of: UInt64?.self) { group in
            group.addTask { await self.waitForChange(after: after) }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
