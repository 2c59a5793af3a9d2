import PanicCore
import PanicHardware
import Synchronization
import Testing

/// Input lines with a kernel's edge queue behind them, as libgpiod 1.6 has: an edge first waits in a queue of
/// `capacity` (the v1 uAPI keeps 16 per line and drops the NEWEST edge when full), and reaches ``edges()`` only
/// when the "event thread" wakes (``wake()``) or ``deliverQueued()`` reads it. Calls the service makes are
/// reported through `calls` once `observing`, after the service has read its starting state.
private final class KernelQueueLines: InputLines {
    let specs: [InputLineSpec]
    private let capacity: Int
    private struct State {
        var level: [Bool]
        var queue: [(line: Int, closed: Bool, at: MonotonicInstant)] = []
        var delivered: UInt64 = 0
        var observing = false
    }
    private let state: Mutex<State>
    private let stream: AsyncThrowingStream<EdgeEvent, any Error>
    private let continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation
    let calls: AsyncStream<String>
    private let call: AsyncStream<String>.Continuation

    init(specs: [InputLineSpec], closed: [Bool], capacity: Int) {
        self.specs = specs
        self.capacity = capacity
        state = Mutex(State(level: closed))
        (stream, continuation) = AsyncThrowingStream.makeStream(of: EdgeEvent.self, bufferingPolicy: .unbounded)
        (calls, call) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
    }

    func observe() { state.withLock { $0.observing = true } }

    /// The contact moves: the line's level changes now; its edge joins the kernel's queue, or is dropped.
    func move(_ line: Int, closed: Bool, at: MonotonicInstant) {
        state.withLock { state in
            state.level[line] = closed
            if state.queue.count < capacity { state.queue.append((line, closed, at)) }
        }
    }

    /// The event thread wakes and reads the queue into the stream; the last delivered sequence.
    @discardableResult
    func wake() -> UInt64 {
        state.withLock { state in
            for edge in state.queue {
                state.delivered += 1
                continuation.yield(
                    EdgeEvent(
                        line: edge.line, name: specs[edge.line].name, edge: edge.closed ? .rising : .falling,
                        timestamp: edge.at, sequence: state.delivered))
            }
            state.queue = []
            return state.delivered
        }
    }

    func contactsClosed() throws -> [Bool] {
        let (level, observing) = state.withLock { ($0.level, $0.observing) }
        if observing { call.yield("contactsClosed") }
        return level
    }

    func deliverQueued() -> UInt64? {
        let delivered = wake()
        if state.withLock({ $0.observing }) { call.yield("deliverQueued") }
        return delivered
    }

    func edges() -> AsyncThrowingStream<EdgeEvent, any Error> { stream }

    func close() {
        continuation.finish()
        call.finish()
    }
}

/// What the test sees: the service's events and its reads of the lines, in one order.
private enum Seen: Sendable, Equatable {
    case event(InputEventKind, since: MonotonicInstant)
    case read(String)
}

private struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "nothing came within 10 s while waiting for \(what)" }
}

/// One ordered stream of ``Seen``, read with a bound on the wait (a failing service must fail the test, not hang it).
private final class Observer: Sendable {
    private let seen: AsyncStream<Seen>
    private let tasks: [Task<Void, Never>]

    init(service: InputService, lines: KernelQueueLines) {
        let (seen, note) = AsyncStream.makeStream(of: Seen.self, bufferingPolicy: .unbounded)
        self.seen = seen
        tasks = [
            Task { for await event in service.events { note.yield(.event(event.kind, since: event.since)) } },
            Task { for await name in lines.calls { note.yield(.read(name)) } },
        ]
    }

    func next(_ what: String, where predicate: @escaping @Sendable (Seen) -> Bool) async throws -> Seen {
        try await withThrowingTaskGroup(of: Seen?.self) { group in
            group.addTask { [seen] in
                for await value in seen where predicate(value) { return value }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw TimedOut(what: what)
            }
            defer { group.cancelAll() }
            guard let value = try await group.next()! else { throw TimedOut(what: "\(what) (the stream ended)") }
            return value
        }
    }

    func cancel() { for task in tasks { task.cancel() } }
}

/// A normally-closed emergency loop: closed at rest, a press opens it.
private let loop = InputLineSpec(
    name: "loop", role: .emergency, chip: "test", line: .name("T_LOOP"), contact: .normallyClosed,
    closedLevel: .low, bias: .asIs, debounce: .milliseconds(20), hold: .milliseconds(100),
    wireCutAfter: .milliseconds(1500))

@Suite("The input service against a kernel's edge queue", .timeLimit(.minutes(1)))
struct InputServiceQueueTests {
    private func watch(
        _ lines: KernelQueueLines, clock: ManualClock,
        _ body: (InputService, Observer) async throws -> Void
    ) async throws {
        let service = InputService(lines: lines, clock: clock)
        let run = Task { try await service.run() }
        await service.watching()
        lines.observe()
        let observer = Observer(service: service, lines: lines)
        defer {
            observer.cancel()
            run.cancel()
            lines.close()
        }
        try await body(service, observer)
    }

    @Test("a deadline that fires late (the daemon descheduled mid-bounce) waits for the edges the kernel already holds")
    func lateDeadline() async throws {
        let clock = ManualClock()
        let lines = KernelQueueLines(specs: [loop], closed: [true], capacity: 16)
        try await watch(lines, clock: clock) { service, observer in
            // A bounce: open at 10 ms, the event thread reads it; closed again at 15 ms, but the thread does
            // not run before the debounce and hold deadlines are long past (500 ms).
            lines.move(0, closed: false, at: ms(10))
            await service.caughtUp(to: lines.wake())
            lines.move(0, closed: true, at: ms(15))
            clock.advance(to: ms(500))
            // The deadline reads the queue before deciding: no emergency from a 5 ms opening.
            let first = try await observer.next("the deadline's first step") { _ in true }
            // (#require: without the read, the close stays queued and waiting for it below would never end.)
            try #require(first == .read("deliverQueued"), "the late deadline decided before reading the queued close")
            await service.caughtUp(to: 2)
            // The next thing the service reports is a real press, dated by its own edge.
            lines.move(0, closed: false, at: ms(600))
            await service.caughtUp(to: lines.wake())
            clock.advance(to: ms(800))
            let press = try await observer.next("the real press") { if case .event = $0 { true } else { false } }
            #expect(press == .event(.emergency, since: ms(600)))
        }
    }

    @Test("edges the kernel dropped from a full queue (libgpiod 1.6 drops the newest) do not leave a bounce open")
    func droppedEdges() async throws {
        let clock = ManualClock()
        let lines = KernelQueueLines(specs: [loop], closed: [true], capacity: 16)
        try await watch(lines, clock: clock) { service, observer in
            lines.move(0, closed: false, at: ms(10))
            await service.caughtUp(to: lines.wake())
            // Seventeen more bounces while the thread sleeps: the queue keeps 16, the last of them an opening;
            // the seventeenth (closed, at 27 ms) is dropped. The contact is closed.
            for index in 1...17 { lines.move(0, closed: index % 2 == 1, at: ms(10 + index)) }
            await service.caughtUp(to: lines.wake())
            // The debounce deadline of the last opening seen (26 ms + 20 ms) finds the line reading closed.
            clock.advance(to: ms(46))
            let read = try await observer.next("the deadline's level check") { $0 == .read("contactsClosed") }
            #expect(read == .read("contactsClosed"))
            clock.advance(to: ms(1_000))
            lines.move(0, closed: false, at: ms(1_100))
            await service.caughtUp(to: lines.wake())
            clock.advance(to: ms(1_300))
            let press = try await observer.next("the real press") { if case .event = $0 { true } else { false } }
            #expect(press == .event(.emergency, since: ms(1_100)), "the dropped close left the contact open")
            #expect(service.isAsserted(role: .emergency) == true)
        }
    }
}
