import Foundation
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// A control room that holds every request until the test answers it: what is in flight at once is what arrived.
final class HeldControlRoom: UplinkTransport {
    struct Request: Sendable {
        let envelopes: [String]
        let reply: CheckedContinuation<RecordBatchResponse, any Error>

        func accept() {
            reply.resume(
                returning: RecordBatchResponse(
                    results: envelopes.map { _ in RecordResult(status: .accepted) }, alerts: [], commands: []))
        }

        func fail() { reply.resume(throwing: UplinkTransportError(description: "held request dropped")) }
    }

    let arrivals: AsyncStream<Request>
    private let sink: AsyncStream<Request>.Continuation

    init() { (arrivals, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded) }

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        try await withCheckedThrowingContinuation { sink.yield(Request(envelopes: batch.envelopes, reply: $0)) }
    }

    func shutdown() async throws {}
}

/// A receiver of another protocol that holds every delivery until the test answers it.
final class HeldReceiver: RecordTransport {
    struct Delivery: Sendable {
        let count: Int
        let reply: CheckedContinuation<ReceiverReport, Never>
    }

    let arrivals: AsyncStream<Delivery>
    private let sink: AsyncStream<Delivery>.Continuation

    init() { (arrivals, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded) }

    func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        await withCheckedContinuation { sink.yield(Delivery(count: records.count, reply: $0)) }
    }

    func shutdown() async throws {}
}

@Suite("A backlog drained with several batches in flight", .timeLimit(.minutes(1)))
struct PipelinedDrainTests {
    /// A day-old backlog of `count` positions (older than the live window: claimed oldest first).
    static func backlog(_ count: Int, in outbox: Outbox, wall: @Sendable () -> RecordTime) throws {
        let old = RecordTime(epochMilliseconds: wall().epochMilliseconds - 86_400_000)
        _ = try outbox.append(contentsOf: (0..<count).map { position($0, at: old) })
    }

    @Test(
        "PanicBridge with a window of 2: two batches in flight at once; each is settled on its own answer, and after a power cut only the answered one is not sent again"
    )
    func panicBridgeWindow() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try Self.backlog(1000, in: device.outbox, wall: wall)
        let sequences = Dictionary(uniqueKeysWithValues: try device.outbox.records().map { ($0.envelope, $0.sequence) })
        let room = HeldControlRoom()
        let uplink = try Uplink(
            outbox: device.outbox, deviceID: device.id,
            backends: [.init(name: "cr", url: "http://127.0.0.1:9", batchSize: 100, backlogWindow: 2)], clock: clock,
            wallClock: wall,
            transport: { _ in room }, seed: 1, logger: quietLogger)
        var events = uplink.events.makeAsyncIterator()
        try await withUplink(uplink) {
            var arrivals = room.arrivals.makeAsyncIterator()
            var held: [HeldControlRoom.Request] = []
            // Today's code sent the second batch only after the first was answered: this waits forever there.
            while held.count < 2, let request = await arrivals.next() { held.append(request) }
            let batches = held.map { Set($0.envelopes.compactMap { sequences[$0] }) }
            #expect(batches == [Set(1...100), Set(101...200)])
            #expect(try device.outbox.status().backends.first?.inFlight == 200)

            // The second batch's answer comes first: its records, and only they, are delivered.
            held[1].accept()
            while let event = await events.next() {
                if case .delivered(_, .backlog, 100) = event { break }
            }
            let status = try #require(try device.outbox.status().backends.first)
            #expect(status.undelivered == 900)
            // The freed slot carries the next batch at once.
            let third = try #require(await arrivals.next())
            #expect(Set(third.envelopes.compactMap { sequences[$0] }) == Set(201...300))

            // A power cut now: the box that comes back has the unanswered batches pending again, oldest first, and
            // never sends the answered one again.
            let restarted = try Outbox(
                path: directory.file("outbox.db"), sealer: RecordSigner(key: device.key), logger: quietLogger)
            try restarted.register(backend: "cr")
            let again = try restarted.claimRoutine(for: "cr", limit: 1000, now: wall()).map(\.sequence)
            #expect(again.count == 900)
            #expect(Set(again) == Set(1...1000).subtracting(batches[1]))
            #expect(Array(again.prefix(101)) == Array(1...100) + [201])

            for request in [held[0], third] { request.fail() }
        }
    }

    @Test("OsmAnd: four batches in flight on parallel requests, each settled on its own report")
    func osmAndWindow() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try Self.backlog(1000, in: device.outbox, wall: wall)
        let receiver = HeldReceiver()
        let uplink = try Uplink(
            outbox: device.outbox, deviceID: device.id,
            backends: [
                .init(
                    name: "traccar", url: "http://127.0.0.1:9", batchSize: 100,
                    wire: .osmAnd(OsmAndOptions(deviceID: device.id)))
            ],
            clock: clock, wallClock: wall, receiver: { _ in receiver }, seed: 1, logger: quietLogger)
        var events = uplink.events.makeAsyncIterator()
        try await withUplink(uplink) {
            var arrivals = receiver.arrivals.makeAsyncIterator()
            var held: [HeldReceiver.Delivery] = []
            while held.count < 4, let delivery = await arrivals.next() { held.append(delivery) }
            #expect(held.map(\.count) == [100, 100, 100, 100])
            #expect(try device.outbox.status().backends.first?.inFlight == 400)
            // The second batch's receiver took half of it: those 50 are delivered, the rest pending again.
            held[1].reply.resume(returning: ReceiverReport(acknowledged: 50, failure: "connection reset"))
            while let event = await events.next() {
                if case .failed(_, .backlog, _) = event { break }
            }
            let status = try #require(try device.outbox.status().backends.first)
            #expect(status.undelivered == 950)
            #expect(status.inFlight == 300)
            for index in [0, 2, 3] {
                held[index].reply.resume(returning: ReceiverReport(acknowledged: 0, failure: "x"))
            }
        }
    }
}

extension DeliveryStateMachineTests {
    @Test("the backlog lane fills its window while claims come back full, and sends one at a time after a failure")
    func backlogWindow() throws {
        var machine = DeliveryStateMachine(now: t0, backlogWindow: 3, seed: 1)
        #expect(machine.start(now: t0) == [.send(.alert), .send(.backlog)])
        #expect(machine.finished(.alert, .empty, now: t0).isEmpty)
        // A partial claim says the backlog is drained: nothing more.
        #expect(machine.claimed(.backlog, full: false, now: t0).isEmpty)
        #expect(machine.finished(.backlog, .delivered(claimed: 10, full: false), now: t0).isEmpty)
        // A new backlog: each full claim lets the next batch go, up to three in flight.
        #expect(machine.recordsAppended(urgent: false, now: t0) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: t0) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: t0) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: t0).isEmpty)
        #expect(machine.inFlight(.backlog) == 3)
        // An alert is not held up by a full window, and while it is in flight the backlog adds no batch.
        #expect(machine.recordsAppended(urgent: true, now: t0) == [.send(.alert)])
        #expect(machine.finished(.backlog, .delivered(claimed: 100, full: true), now: t0).isEmpty)
        #expect(machine.finished(.backlog, .delivered(claimed: 100, full: true), now: t0).isEmpty)
        #expect(machine.claimed(.backlog, full: true, now: t0).isEmpty)
        #expect(machine.finished(.alert, .delivered(claimed: 1, full: false), now: t0) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: t0) == [.send(.backlog)])
        #expect(machine.inFlight(.backlog) == 3)
        // An answer frees a slot for the next batch.
        #expect(machine.finished(.backlog, .delivered(claimed: 100, full: true), now: t0) == [.send(.backlog)])
        // A failure: the window shrinks to one, so nothing new goes while two are in flight, nor after its backoff.
        #expect(machine.finished(.backlog, .failed, now: t0).isEmpty)
        let retry = t0.advanced(by: .seconds(600))
        #expect(machine.finished(.backlog, .failed, now: t0).isEmpty)
        #expect(machine.claimed(.backlog, full: true, now: t0).isEmpty)
        #expect(machine.inFlight(.backlog) == 1)
        #expect(machine.tick(now: retry).isEmpty)
        #expect(machine.finished(.backlog, .failed, now: retry).isEmpty)
        let deadline = try #require(machine.nextDeadline)
        #expect(machine.tick(now: deadline) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: deadline).isEmpty)
        // Success reopens the window.
        #expect(machine.finished(.backlog, .delivered(claimed: 100, full: true), now: deadline) == [.send(.backlog)])
        #expect(machine.claimed(.backlog, full: true, now: deadline) == [.send(.backlog)])
    }
}
