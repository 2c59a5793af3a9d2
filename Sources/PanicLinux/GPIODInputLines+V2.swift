import CGPIOD
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A board's input lines on Linux GPIO character devices, through libgpiod 2 (Debian 13's `libgpiod3`,
/// Raspberry Pi OS trixie).
///
/// The same contract as ``GPIODInputLinesV1``: each line is requested for both-edge events under the consumer
/// `panicd`, with the active-low and bias its board entry asks for (``GPIODRequest/settings(for:)-(InputLineSpec)``),
/// one request per line so lines may sit on different chips. ``edges()`` starts one thread that sleeps in
/// `epoll_wait` on the requests' descriptors and reads each readable request's events, with their kernel
/// timestamps (CLOCK_MONOTONIC), into a reused `gpiod_edge_event_buffer`.
final class GPIODInputLinesV2: GPIODInputBackend {
    let specs: [InputLineSpec]
    private let shared: Shared
    private let descriptors: [Int32]

    /// The requests and the event buffer, shared by the caller's methods and the event thread.
    final class Shared: Sendable {
        struct State: ~Copyable {
            let api: GPIODv2
            var lines: GPIODLineSetV2
            var loop: GPIODEventLoop?
            /// The current ``edges()`` stream's, for ``deliverQueued()`` (reading on the caller's thread).
            var continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation? = nil
            let buffer: OpaquePointer
            var sequence: UInt64 = 0
            deinit { api.gpiod_edge_event_buffer_free(buffer) }
        }
        let state: Mutex<State>
        init(_ state: consuming sending State) { self.state = Mutex(state) }
    }

    /// Requests `specs` for edge events. Throws the first request that fails, naming the line and chip; lines
    /// already requested are released again.
    init(specs: [InputLineSpec], api: GPIODv2) throws(GPIODError) {
        self.specs = specs
        var set = GPIODLineSetV2(api: api)
        var descriptors: [Int32] = []
        for spec in specs {
            let line = try set.request(spec.line, chip: spec.chip, settings: GPIODRequest.settings(for: spec))
            let descriptor = api.gpiod_line_request_get_fd(line.request)
            try GPIODEventLoop.makeNonBlocking(descriptor)
            descriptors.append(descriptor)
        }
        guard let buffer = api.gpiod_edge_event_buffer_new(16) else {
            throw GPIODError(call: "gpiod_edge_event_buffer_new", errno: Errno(rawValue: Glibc.errno))
        }
        self.descriptors = descriptors
        shared = Shared(Shared.State(api: api, lines: set, buffer: buffer))
    }

    /// Reads each line's value (`gpiod_line_request_get_value`; active means closed, active-low applied).
    func contactsClosed() throws -> [Bool] {
        try shared.state.withLock { state throws(GPIODError) -> [Bool] in
            try zip(specs, state.lines.lines).map { spec, line throws(GPIODError) -> Bool in
                let value = state.api.gpiod_line_request_get_value(line.request, line.offset)
                guard value != GPIOD_LINE_VALUE_ERROR else {
                    throw GPIODError(
                        call: "gpiod_line_request_get_value", errno: Errno(rawValue: Glibc.errno),
                        line: spec.line.description, chip: spec.chip)
                }
                return value == GPIOD_LINE_VALUE_ACTIVE
            }
        }
    }

    /// Starts the event thread and returns the edges it reads. Ending the iteration stops the thread.
    func edges() -> AsyncThrowingStream<EdgeEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: EdgeEvent.self, throwing: (any Error).self, bufferingPolicy: .unbounded)
        let specs = specs
        let shared = shared
        do {
            let loop = try GPIODEventLoop(
                descriptors: descriptors,
                handler: { index in Self.read(index, specs: specs, shared: shared, into: continuation) },
                onExit: { error in
                    if let error { continuation.finish(throwing: error) } else { continuation.finish() }
                })
            continuation.onTermination = { _ in loop.stop() }
            let previous = shared.state.withLock { state in
                defer { (state.loop, state.continuation) = (loop, continuation) }
                return state.loop
            }
            previous?.join()
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// Reads the pending events of line `index` on the event thread (`gpiod_line_request_read_edge_events`);
    /// false (after finishing the stream) when reading fails.
    private static func read(
        _ index: Int, specs: [InputLineSpec], shared: Shared,
        into continuation: AsyncThrowingStream<EdgeEvent, any Error>.Continuation
    ) -> Bool {
        shared.state.withLock { state in
            guard index < state.lines.lines.count else { return false }
            let request = state.lines.lines[index].request
            let count = state.api.gpiod_line_request_read_edge_events(request, state.buffer, 16)
            // Non-blocking: the other reader (the event thread, or deliverQueued) emptied the queue first.
            if count < 0, Glibc.errno == EAGAIN { return true }
            guard count >= 0 else {
                let spec = specs[index]
                continuation.finish(
                    throwing: GPIODError(
                        call: "gpiod_line_request_read_edge_events", errno: Errno(rawValue: Glibc.errno),
                        line: spec.line.description, chip: spec.chip))
                return false
            }
            for slot in 0..<Int(count) {
                guard let event = state.api.gpiod_edge_event_buffer_get_event(state.buffer, UInt(slot)) else {
                    continue
                }
                state.sequence += 1
                let nanoseconds = state.api.gpiod_edge_event_get_timestamp_ns(event)
                let timestamp = MonotonicInstant(
                    sinceOrigin: .seconds(Int64(nanoseconds / 1_000_000_000))
                        + .nanoseconds(Int64(nanoseconds % 1_000_000_000)))
                continuation.yield(
                    EdgeEvent(
                        line: index, name: specs[index].name,
                        edge: state.api.gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE
                            ? .rising : .falling,
                        timestamp: timestamp, sequence: state.sequence))
            }
            return true
        }
    }

    /// Reads each request's descriptor once, without waiting (they are non-blocking), on the caller's thread.
    func deliverQueued() -> UInt64? {
        guard let continuation = shared.state.withLock({ $0.continuation }) else { return nil }
        for index in descriptors.indices
        where !Self.read(index, specs: specs, shared: shared, into: continuation) { break }
        return shared.state.withLock { $0.sequence }
    }

    /// How many times the event thread woke (for the benchmark).
    var wakeups: Int { shared.state.withLock { $0.loop?.wakeups.load(ordering: .relaxed) ?? 0 } }

    /// Stops the event thread and releases the lines (`gpiod_line_request_release`).
    func close() {
        let loop = shared.state.withLock { state in
            defer { (state.loop, state.continuation) = (nil, nil) }
            return state.loop
        }
        loop?.join()
        shared.state.withLock { $0.lines.release() }
    }

    deinit { close() }
}
