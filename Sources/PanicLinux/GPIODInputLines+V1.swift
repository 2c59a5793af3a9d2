import CGPIOD
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A board's input lines on Linux GPIO character devices, through libgpiod v1.6 (Debian 12's `libgpiod2`).
///
/// Each line is requested for both-edge events under the consumer name `panicd`, with the active-low and bias
/// flags its board entry asks for (see ``GPIODRequest``). ``edges()`` starts one thread that sleeps in
/// `epoll_wait` on the lines' event descriptors and reads each readable descriptor's events, with their kernel
/// timestamps, into a reused buffer (`gpiod_line_event_read_fd_multiple`, up to 16 at a time). The lines are
/// released by ``close()`` or when the value goes away.
final class GPIODInputLinesV1: GPIODInputBackend {
    let specs: [InputLineSpec]
    /// Every libgpiod pointer lives in here; the mutex serializes all calls that use them.
    private let state: Mutex<State>
    private struct State: ~Copyable {
        var lines: GPIODLineSetV1
        var loop: GPIODEventLoop?
        var reader: GPIODEventReader?
    }
    private let descriptors: [Int32]
    private let api: GPIODv1

    /// Requests `specs` for edge events. Throws the first request that fails, naming the line and chip; lines
    /// already requested are released again.
    init(specs: [InputLineSpec], api: GPIODv1) throws(GPIODError) {
        self.specs = specs
        self.api = api
        var set = GPIODLineSetV1(api: api)
        var descriptors: [Int32] = []
        for spec in specs {
            let line = try set.line(spec.line, chip: spec.chip)
            let flags = GPIODRequest.flags(for: spec)
            guard api.gpiod_line_request_both_edges_events_flags(line, GPIODRequest.consumer, flags) == 0 else {
                throw GPIODError(
                    call: "gpiod_line_request_both_edges_events_flags", errno: Errno(rawValue: Glibc.errno),
                    line: spec.line.description, chip: spec.chip, askedForBias: spec.bias != .asIs)
            }
            set.requested(line)
            let descriptor = api.gpiod_line_event_get_fd(line)
            guard descriptor >= 0 else {
                throw GPIODError(
                    call: "gpiod_line_event_get_fd", errno: Errno(rawValue: Glibc.errno),
                    line: spec.line.description, chip: spec.chip)
            }
            try GPIODEventLoop.makeNonBlocking(descriptor)
            descriptors.append(descriptor)
        }
        self.descriptors = descriptors
        state = Mutex(State(lines: set, loop: nil, reader: nil))
    }

    /// Reads each line's value (`gpiod_line_get_value`; 1 means the contact is closed, active-low applied).
    func contactsClosed() throws -> [Bool] {
        try state.withLock { state throws(GPIODError) -> [Bool] in
            try zip(specs, state.lines.lines).map { spec, line throws(GPIODError) -> Bool in
                let value = api.gpiod_line_get_value(line)
                guard value >= 0 else {
                    throw GPIODError(
                        call: "gpiod_line_get_value", errno: Errno(rawValue: Glibc.errno),
                        line: spec.line.description, chip: spec.chip)
                }
                return value == 1
            }
        }
    }

    /// Starts the event thread and returns the edges it reads. Ending the iteration stops the thread.
    func edges() -> AsyncThrowingStream<EdgeEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: EdgeEvent.self, throwing: (any Error).self, bufferingPolicy: .unbounded)
        let specs = specs
        let descriptors = descriptors
        let reader = GPIODEventReader(api: api, specs: specs, descriptors: descriptors, continuation: continuation)
        do {
            let loop = try GPIODEventLoop(
                descriptors: descriptors, handler: { reader.read($0) },
                onExit: { error in
                    if let error { continuation.finish(throwing: error) } else { continuation.finish() }
                })
            continuation.onTermination = { _ in loop.stop() }
            let previous = state.withLock { state in
                defer { (state.loop, state.reader) = (loop, reader) }
                return state.loop
            }
            previous?.join()
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// Reads each line's descriptor once, without waiting (they are non-blocking), on the caller's thread.
    func deliverQueued() -> UInt64? {
        guard let reader = state.withLock({ $0.reader }) else { return nil }
        for index in descriptors.indices where !reader.read(index) { break }
        return reader.delivered
    }

    /// How many times the event thread woke (for the benchmark).
    var wakeups: Int { state.withLock { $0.loop?.wakeups.load(ordering: .relaxed) ?? 0 } }

    /// Stops the event thread and releases the lines (`gpiod_line_release`, `gpiod_chip_close`).
    func close() {
        let loop = state.withLock { state in
            defer { (state.loop, state.reader) = (nil, nil) }
            return state.loop
        }
        loop?.join()
        state.withLock { $0.lines.release() }
    }

    deinit { close() }
}

/// The event thread's reading side: one reused buffer, the sequence counter, the stream to deliver into.
///
/// Used by the loop's thread and by ``GPIODInputLinesV1/deliverQueued()``: the mutex keeps one read at a time, so
/// sequence numbers follow the kernel's order.
final class GPIODEventReader: Sendable {
    static let capacity = 16
    private struct Buffer: ~Copyable {
        let events = UnsafeMutablePointer<gpiod_line_event>.allocate(capacity: GPIODEventReader.capacity)
        var sequence: UInt64 = 0
        deinit { events.deallocate() }
    }
    private let buffer = Mutex(Buffer())
    private let api: GPIODv1
    private let specs: [InputLineSpec]
    private let descriptors: [Int32]
    private let continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation

    init(
        api: GPIODv1, specs: [InputLineSpec], descriptors: [Int32],
        continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation
    ) {
        self.api = api
        self.specs = specs
        self.descriptors = descriptors
        self.continuation = continuation
    }

    /// The sequence number of the last edge handed to the stream.
    var delivered: UInt64 { buffer.withLock { $0.sequence } }

    /// Reads the pending events of line `index`; false (after finishing the stream) when reading fails.
    func read(_ index: Int) -> Bool {
        buffer.withLock { buffer in
            let count = api.gpiod_line_event_read_fd_multiple(descriptors[index], buffer.events, UInt32(Self.capacity))
            // Non-blocking: the other reader (the event thread, or deliverQueued) emptied the queue first.
            if count < 0, Glibc.errno == EAGAIN { return true }
            guard count >= 0 else {
                let spec = specs[index]
                continuation.finish(
                    throwing: GPIODError(
                        call: "gpiod_line_event_read_fd_multiple", errno: Errno(rawValue: Glibc.errno),
                        line: spec.line.description, chip: spec.chip))
                return false
            }
            for slot in 0..<Int(count) {
                let event = buffer.events[slot]
                buffer.sequence += 1
                // Since Linux 5.7 the v1 uAPI stamps events with CLOCK_MONOTONIC, the daemon's time base.
                let timestamp = MonotonicInstant(
                    sinceOrigin: .seconds(event.ts.tv_sec) + .nanoseconds(event.ts.tv_nsec))
                continuation.yield(
                    EdgeEvent(
                        line: index, name: specs[index].name,
                        edge: event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE) ? .rising : .falling,
                        timestamp: timestamp, sequence: buffer.sequence))
            }
            return true
        }
    }
}
