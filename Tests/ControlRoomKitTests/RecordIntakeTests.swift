import AsyncHTTPClient
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import PanicCore
import PanicSigning
import PanicStore
import Testing

final class Fixture {
    let directory: String
    let room: ControlRoom
    let roomKey: DeviceKey
    let deviceKey = DeviceKey.generate()
    let signer: RecordSigner
    var deviceID: String { deviceKey.identity.deviceID }

    private init(directory: String, room: ControlRoom, roomKey: DeviceKey) {
        self.directory = directory
        self.room = room
        self.roomKey = roomKey
        signer = RecordSigner(key: deviceKey)
    }

    /// A fixture on SQLite in a fresh directory (removed when the fixture goes).
    convenience init(register: Bool = true) async throws {
        let directory = Self.scratch()
        let key = DeviceKey.generate()
        self.init(
            directory: directory, room: try ControlRoom(path: directory + "/cr.db", key: key, logger: StoreKind.quiet),
            roomKey: key)
        if register { try await self.register() }
    }

    /// Runs `body` with a fixture on a fresh store of `kind`, its control room reading `wallClock`.
    static func with(
        _ kind: StoreKind, register: Bool = true,
        wallClock: @escaping @Sendable () -> RecordTime = RecordTime.systemNow, _ body: (Fixture) async throws -> Void
    ) async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await kind.withStore(directory: directory) { store in
            let key = DeviceKey.generate()
            let room = ControlRoom(store: store, key: key, wallClock: wallClock, logger: StoreKind.quiet)
            let fixture = Fixture(directory: directory, room: room, roomKey: key)
            if register { try await fixture.register() }
            try await body(fixture)
        }
    }

    /// A second device on the same control room, registered (its own scratch directory).
    func sibling() async throws -> Fixture {
        let fixture = Fixture(directory: Self.scratch(), room: room, roomKey: roomKey)
        try await fixture.register()
        return fixture
    }

    func register() async throws {
        try await room.addDevice(id: deviceKey.identity.deviceID, publicKey: deviceKey.identity.jwk)
    }

    static func scratch() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cr-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A chain of `count` records (every `alertEvery`-th an emergency), sealed as the outbox would seal them.
    func chain(_ count: Int, alertAt: Set<Int> = []) throws -> [SealedRecord] {
        var previous: String?
        var result: [SealedRecord] = []
        for index in 1...count {
            let body: RecordBody = alertAt.contains(index) ? .emergency(input: "panic-1") : .position
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(),
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index)),
                timeSource: .gnss, fix: RecordFix(latitude: 28.61, longitude: 77.2, ageMilliseconds: 900), body: body)
            let sealed = try signer.seal(
                Record(device: deviceID, sequence: Int64(index), previousHash: previous, draft: draft))
            previous = sealed.hash
            result.append(sealed)
        }
        return result
    }

    /// Sends a batch as the device does: signed with its key at the control room's time.
    func send(_ envelopes: [String], acks: [String] = []) async throws -> RecordBatchResponse {
        try await room.receive(signed(RecordBatch(device: deviceID, envelopes: envelopes, commandAcks: acks)))
    }

    /// `batch` with the device's proof.
    func signed(_ batch: RecordBatch) throws -> RecordBatch {
        try BatchSigner(key: deviceKey).sign(batch, time: RecordTime.systemNow())
    }
}

@Suite("Record intake: verify, store once, find gaps", .timeLimit(.minutes(5)))
struct RecordIntakeTests {
    @Test(
        "genuine records are accepted; sent again they are duplicates and are not stored twice",
        arguments: StoreKind.all)
    func acceptedThenDuplicate(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(3)
            let first = try await fixture.send(records.map(\.envelope))
            #expect(first.results.map(\.status) == [.accepted, .accepted, .accepted])
            let again = try await fixture.send(records.map(\.envelope))
            #expect(again.results.map(\.status) == [.duplicate, .duplicate, .duplicate])
            #expect(try await fixture.room.recordCount() == 3)
            #expect(try await fixture.room.findings(device: fixture.deviceID).isEmpty)
        }
    }

    @Test("a record with a forged signature is rejected as bad-signature and not stored", arguments: StoreKind.all)
    func forged(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let genuine = try fixture.chain(1)[0].envelope
            let parts = genuine.split(separator: ".").map(String.init)
            let payload = try #require(Base64URL.decode(parts[1]))
            let moved = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "28.61", with: "19.07")
            let forged = [parts[0], Base64URL.encode(Data(moved.utf8)), parts[2]].joined(separator: ".")
            let response = try await fixture.send([forged])
            #expect(response.results == [RecordResult(status: .rejected, reason: .badSignature)])
            #expect(try await fixture.room.recordCount() == 0)
        }
    }

    @Test("a record from an unregistered device is rejected as unknown-device", arguments: StoreKind.all)
    func unknownDevice(_ store: StoreKind) async throws {
        try await Fixture.with(store, register: false) { fixture in
            let response = try await fixture.send(try fixture.chain(1).map(\.envelope))
            #expect(response.results == [RecordResult(status: .rejected, reason: .unknownDevice)])
            #expect(try await fixture.room.recordCount() == 0)
        }
    }

    @Test("garbage is rejected as malformed", arguments: StoreKind.all)
    func malformed(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let response = try await fixture.send(["not-a-jws", "a.b"])
            #expect(response.results.map(\.reason) == [.malformed, .malformed])
        }
    }

    @Test(
        "a replayed record (same id under a new sequence number) and a fork are rejected and recorded",
        arguments: StoreKind.all)
    func replayAndFork(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(2)
            _ = try await fixture.send(records.map(\.envelope))
            // The device's own key signs a different record with sequence 2: a fork.
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1), timeSource: .system,
                fix: nil,
                body: .position)
            let fork = try fixture.signer.seal(
                Record(device: fixture.deviceID, sequence: 2, previousHash: records[0].hash, draft: draft))
            // The first record's payload again, renumbered as 3: a replay of its id.
            let payload = try #require(Base64URL.decode(records[0].envelope.split(separator: ".")[1]))
            var replayed = try JSONDecoder().decode(Record.self, from: payload)
            replayed.sequence = 3
            replayed.previousHash = records[1].hash
            let replay = try fixture.signer.seal(replayed)
            let response = try await fixture.send([fork.envelope, replay.envelope])
            #expect(response.results.map(\.reason) == [.fork, .replay])
            #expect(try await fixture.room.recordCount() == 2)
            #expect(try await fixture.room.findings(device: fixture.deviceID).map(\.finding) == [.fork, .replay])
        }
    }

    @Test(
        "missing sequence numbers are recorded as gaps and close when the records arrive (alerts first)",
        arguments: StoreKind.all)
    func gaps(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(6, alertAt: [6])
            _ = try await fixture.send([records[5].envelope, records[0].envelope, records[2].envelope])
            #expect(try await fixture.room.gaps(device: fixture.deviceID) == [2...2, 4...5])
            let listed = try await fixture.room.devices().first { $0.id == fixture.deviceID }
            #expect(listed?.gaps == ["2", "4-5"])
            _ = try await fixture.send([records[1].envelope, records[3].envelope, records[4].envelope])
            #expect(try await fixture.room.gaps(device: fixture.deviceID).isEmpty)
            #expect(try await fixture.room.findings(device: fixture.deviceID).isEmpty)
        }
    }

    @Test(
        "a record whose prev does not match its predecessor is stored and reported as a broken chain",
        arguments: StoreKind.all)
    func brokenChain(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(1)
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 2), timeSource: .system,
                fix: nil,
                body: .position)
            let broken = try fixture.signer.seal(
                Record(device: fixture.deviceID, sequence: 2, previousHash: "AAAA", draft: draft))
            let response = try await fixture.send([records[0].envelope, broken.envelope])
            #expect(response.results.map(\.status) == [.accepted, .accepted])
            #expect(try await fixture.room.findings(device: fixture.deviceID).map(\.finding) == [.brokenChain])
        }
    }
}

@Suite("Intake runs the shared record rules", .timeLimit(.minutes(2)))
struct SharedRulesIntakeTests {
    /// A record signed by the fixture's device with the given sequence number and `prev`.
    func sealed(_ fixture: Fixture, sequence: Int64, previous: String?) throws -> SealedRecord {
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1_764_000_000_000 + sequence),
            timeSource: .gnss, fix: nil, body: .position)
        return try fixture.signer.seal(
            Record(device: fixture.deviceID, sequence: sequence, previousHash: previous, draft: draft))
    }

    @Test(
        "record 1 carrying a prev is stored and reported as a broken chain, as panicd verify reports it",
        arguments: StoreKind.all)
    func firstRecordWithPrevious(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let first = try sealed(fixture, sequence: 1, previous: "AAAA")
            #expect(try await fixture.send([first.envelope]).results.map(\.status) == [.accepted])
            #expect(try await fixture.room.findings(device: fixture.deviceID).map(\.finding) == [.brokenChain])
            var verifier = RecordVerifier(keys: [fixture.deviceKey.identity])
            #expect(verifier.verify(first.envelope).findings == [.brokenChain(device: fixture.deviceID, sequence: 1)])
        }
    }

    @Test("the control room and panicd verify name the same findings for the same stream", arguments: StoreKind.all)
    func sameFindings(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(3)
            let fork = try sealed(fixture, sequence: 2, previous: records[0].hash)
            let broken = try sealed(fixture, sequence: 4, previous: "AAAA")
            let stream = records.map(\.envelope) + [fork.envelope, broken.envelope]
            _ = try await fixture.send(stream)
            var verifier = RecordVerifier(keys: [fixture.deviceKey.identity])
            let verified = stream.flatMap { verifier.verify($0).findings }.filter { !$0.isOK }.map(\.kind)
            #expect(try await fixture.room.findings(device: fixture.deviceID).map(\.finding) == verified)
            #expect(verified == [.fork, .brokenChain])
        }
    }

    @Test("a batch naming another device than the key's is a device mismatch", arguments: StoreKind.all)
    func senderMismatch(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let envelope = try fixture.chain(1)[0].envelope
            let response = try await fixture.room.receive(RecordBatch(device: "someone-else", envelopes: [envelope]))
            #expect(response.results == [RecordResult(status: .rejected, sequence: 1, reason: .deviceMismatch)])
        }
    }
}

@Suite("Operator actions become signed commands", .timeLimit(.minutes(2)))
struct OperatorCommandTests {
    @Test(
        "accept and clear issue commands signed with the control room key, carrying device, alert, nonce, expiry",
        arguments: StoreKind.all)
    func signedCommands(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(1, alertAt: [1])
            let first = try await fixture.send(records.map(\.envelope))
            let alertID = try #require(try await fixture.room.openAlerts().first?.id)
            #expect(first.alerts == [RemoteAlertState(alert: alertID, state: .open)])
            #expect(first.commands.isEmpty)
            try await fixture.room.accept(device: fixture.deviceID, alert: alertID)
            let second = try await fixture.send([])
            #expect(second.alerts == [RemoteAlertState(alert: alertID, state: .acknowledged)])
            let verifier = CommandSignatureVerifier(controlRoom: fixture.roomKey.identity)
            let accept = try verifier.verify(try #require(second.commands.first))
            #expect(accept.action == .accept)
            #expect(accept.device == fixture.deviceID)
            #expect(accept.alert == alertID)
            #expect(accept.expires > accept.issued)
            // Acknowledged by the device: not sent again.
            #expect(try await fixture.send([], acks: [accept.nonce]).commands.isEmpty)
            try await fixture.room.clear(device: fixture.deviceID, alert: alertID)
            let clear = try verifier.verify(try #require(try await fixture.send([]).commands.first))
            #expect(clear.action == .clear)
            #expect(clear.nonce != accept.nonce)
            await #expect(throws: ControlRoomError.self) {
                try await fixture.room.accept(device: fixture.deviceID, alert: alertID)
            }
        }
    }

    @Test("POST /v1/records over HTTP answers per record", arguments: StoreKind.all)
    func overHTTP(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(2, alertAt: [2])
            let room = fixture.room
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let (ports, sink) = AsyncStream<Int>.makeStream()
            let app = ControlRoomServer.application(
                controlRoom: room, host: "127.0.0.1", port: 0, logger: quiet,
                onRunning: { sink.yield($0) })
            let batch = try fixture.signed(
                RecordBatch(device: fixture.deviceID, envelopes: records.map(\.envelope) + ["junk"]))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/records")
                request.method = .POST
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(batch)))
                // Generous: on a two-core CI machine long synchronous tests (SQLite fills, child processes) can hold the
                // cooperative pool for a while; this test is about the answer, not its speed.
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
                #expect(response.status == .ok)
                let body = try await response.body.collect(upTo: 1 << 20)
                let decoded = try JSONDecoder().decode(RecordBatchResponse.self, from: Data(body.readableBytesView))
                #expect(decoded.results.map(\.status) == [.accepted, .accepted, .rejected])
                #expect(decoded.alerts.count == 1)
                group.cancelAll()
            }
        }
    }
}

@Suite("Requests must prove they come from the device", .timeLimit(.minutes(2)))
struct RequestAuthenticationTests {
    /// A fixture with an open alert the operator accepted: one command is waiting.
    func waitingCommand(_ fixture: Fixture) async throws -> String {
        _ = try await fixture.send(try fixture.chain(1, alertAt: [1]).map(\.envelope))
        let alert = try #require(try await fixture.room.openAlerts().first?.id)
        try await fixture.room.accept(device: fixture.deviceID, alert: alert)
        // Only to learn the nonce, as a network attacker might have from an earlier answer: the device's own poll.
        let command = try #require(try await fixture.send([]).commands.first)
        let verifier = CommandSignatureVerifier(controlRoom: fixture.roomKey.identity)
        return try verifier.verify(command).nonce
    }

    @Test(
        "an unsigned poll naming the device gets no commands and no alerts, and its acks are ignored",
        arguments: StoreKind.all)
    func unsignedPollAndAck(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let nonce = try await waitingCommand(fixture)
            let poll = try await fixture.room.receive(RecordBatch(device: fixture.deviceID, envelopes: []))
            #expect(poll.commands.isEmpty)
            #expect(poll.alerts.isEmpty)
            #expect(poll.authentication?.refusal == .missing)
            let ack = try await fixture.room.receive(
                RecordBatch(device: fixture.deviceID, envelopes: [], commandAcks: [nonce]))
            #expect(ack.authentication?.verified == false)
            // The device still gets the command, with the same nonce.
            let verifier = CommandSignatureVerifier(controlRoom: fixture.roomKey.identity)
            let again = try await fixture.send([]).commands.map { try verifier.verify($0).nonce }
            #expect(again == [nonce])
        }
    }

    @Test(
        "a proof signed by another key, a replayed proof, a stale one and one over other acks are refused",
        arguments: StoreKind.all)
    func forgedReplayedStaleAndAltered(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let nonce = try await waitingCommand(fixture)
            let now = RecordTime.systemNow()
            let ack = RecordBatch(device: fixture.deviceID, envelopes: [], commandAcks: [nonce])
            let forged = try BatchSigner(key: DeviceKey.generate()).sign(ack, time: now)
            #expect(try await fixture.room.receive(forged).authentication?.refusal == .badSignature)
            let stale = try BatchSigner(key: fixture.deviceKey).sign(
                ack, time: RecordTime(epochMilliseconds: now.epochMilliseconds - 600_000))
            #expect(try await fixture.room.receive(stale).authentication?.refusal == .stale)
            // The device signed a poll without acks; someone adds an ack to it.
            var altered = try fixture.signed(RecordBatch(device: fixture.deviceID, envelopes: []))
            altered.commandAcks = [nonce]
            #expect(try await fixture.room.receive(altered).authentication?.refusal == .bodyMismatch)
            let poll = try fixture.signed(RecordBatch(device: fixture.deviceID, envelopes: []))
            #expect(try await fixture.room.receive(poll).authentication?.verified == true)
            #expect(try await fixture.room.receive(poll).authentication?.refusal == .replayed)
            #expect(try await fixture.send([]).commands.count == 1)
        }
    }

    @Test(
        "a routine request's proof is checked only when its answer needs it; a forged one then reads nothing",
        arguments: StoreKind.all)
    func proofCheckedWhenNeeded(_ store: StoreKind) async throws {
        try await Fixture.with(store) { fixture in
            let records = try fixture.chain(3, alertAt: [2])
            let attacker = BatchSigner(key: DeviceKey.generate())
            // Nothing open for the device: a position under another key's proof is stored (the record is the
            // device's own) and answered with nothing, the proof not checked.
            let quiet = try await fixture.room.receive(
                try attacker.sign(
                    RecordBatch(device: fixture.deviceID, envelopes: [records[0].envelope]), time: .systemNow()))
            #expect(quiet.results.map(\.status) == [.accepted])
            let unchecked = try #require(quiet.authentication)
            #expect(unchecked == .unchecked(serverTime: unchecked.serverTime))
            #expect(quiet.alerts.isEmpty && quiet.commands.isEmpty)
            // An alert record: its proof is checked first and the answer carries the alert.
            let alert = try await fixture.send([records[1].envelope])
            #expect(alert.authentication?.verified == true)
            #expect(alert.authentication?.checked == nil)
            let open = alert.alerts.map(\.alert)
            #expect(open.count == 1)
            // The alert is open: a position under the attacker's proof has its proof checked and refused, and
            // reads no alert and no command; the record itself is still stored.
            let forged = try await fixture.room.receive(
                try attacker.sign(
                    RecordBatch(device: fixture.deviceID, envelopes: [records[2].envelope]), time: .systemNow()))
            #expect(forged.results.map(\.status) == [.accepted])
            #expect(forged.authentication?.refusal == .badSignature)
            #expect(forged.alerts.isEmpty && forged.commands.isEmpty)
            // The device's own poll: checked, answered, its nonce taken; the same request again is a replay.
            let poll = try fixture.signed(RecordBatch(device: fixture.deviceID, envelopes: []))
            let answered = try await fixture.room.receive(poll)
            #expect(answered.authentication?.verified == true)
            #expect(answered.alerts.map(\.alert) == open)
            let replayed = try await fixture.room.receive(poll)
            #expect(replayed.authentication?.refusal == .replayed)
            #expect(replayed.alerts.isEmpty)
        }
    }
}
