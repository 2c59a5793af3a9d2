import PanicCore
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// A receiver that wants a heartbeat every `interval` and acknowledges everything at once, counting what it is
/// asked for: the delivery loop's timers, without a network.
final class CountingReceiver: RecordTransport {
    let interval: Duration
    private let counts = Mutex((deliveries: 0, heartbeats: 0))

    init(interval: Duration) { self.interval = interval }

    var deliveries: Int { counts.withLock { $0.deliveries } }
    var heartbeats: Int { counts.withLock { $0.heartbeats } }

    func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        counts.withLock { $0.deliveries += 1 }
        return ReceiverReport(acknowledged: records.count)
    }

    func shutdown() async throws {}
    var keepAliveInterval: Duration? { interval }

    func keepAlive(timeout: Duration) async -> String? {
        counts.withLock { $0.heartbeats += 1 }
        return nil
    }
}

@Suite("An idle backend sleeps until something is due", .timeLimit(.minutes(1)))
struct IdleTimerTests {
    /// Waits (yielding, never sleeping) until the clock's sleepers settle on `deadline`: every sleep the uplink holds
    /// ends there, none earlier. False if they do not within many rounds.
    func sleepersSettle(on deadline: MonotonicInstant, clock: ManualClock) async -> Bool {
        for _ in 0..<200_000 {
            if clock.sleeperCount == 1, clock.nextDeadline == deadline { return true }
            await Task.yield()
        }
        return false
    }

    @Test("a delivery that pushes the heartbeat back leaves no wakeup at the old deadline")
    func noStaleWakeup() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        let receiver = CountingReceiver(interval: .seconds(120))
        let start = clock.now
        let uplink = try Uplink(
            outbox: device.outbox, deviceID: device.id,
            backends: [
                BackendConfiguration(
                    name: "vlt", url: "tcp://127.0.0.1:1",
                    wire: .ais140(AIS140Options(identity: ReceiverDeliveryTests.identity)))
            ],
            clock: clock, wallClock: wall, receiver: { _ in receiver }, seed: 7, logger: quietLogger)
        var events = uplink.events.makeAsyncIterator()
        try await withUplink(uplink) {
            // Nothing to send: the only wakeup is the heartbeat, 120 s after the start.
            while let event = await events.next() {
                if case .idle(_, let until) = event, until == start.advanced(by: .seconds(120)) { break }
            }
            #expect(await sleepersSettle(on: start.advanced(by: .seconds(120)), clock: clock))

            // A position at 60 s is delivered: the session showed life, so the heartbeat is due at 180 s.
            clock.advance(to: start.advanced(by: .seconds(60)))
            try uplink.submit(position(0, at: wall()))
            let due = start.advanced(by: .seconds(180))
            while let event = await events.next() {
                if case .idle(_, let until) = event, until == due { break }
            }
            #expect(receiver.deliveries == 1)
            // The one sleep left ends at 180 s: none at 120 s, when nothing is due.
            #expect(
                await sleepersSettle(on: due, clock: clock), "sleepers until \(String(describing: clock.nextDeadline))")

            // At 180 s exactly one heartbeat, then the next is due at 300 s.
            clock.advance(to: due)
            while let event = await events.next() {
                if case .idle(_, let until) = event, until == start.advanced(by: .seconds(300)) { break }
            }
            #expect(receiver.heartbeats == 1)
            #expect(await sleepersSettle(on: start.advanced(by: .seconds(300)), clock: clock))
        }
    }
}
