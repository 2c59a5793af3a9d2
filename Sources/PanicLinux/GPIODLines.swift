import PanicCore
import PanicHardware

/// One GPIO chip as `gpiodetect` shows it.
public struct GPIODChipInfo: Sendable, Equatable {
    public var name: String
    public var label: String
    public var lines: Int
}

extension GPIODChipInfo {
    /// Every chip under /dev (empty when the kernel has none), through whichever libgpiod API was loaded
    /// (``GPIODLibrary``).
    public static func all() throws(GPIODError) -> [GPIODChipInfo] {
        switch try GPIODLibrary.loaded().functions {
        case .v1(let api): try all(api)
        case .v2(let api): try all(api)
        }
    }
}

/// What ``GPIODInputLines`` needs of either API's side: the seam, plus the event thread's wakeups.
protocol GPIODInputBackend: InputLines {
    var wakeups: Int { get }
}

/// A board's input lines on Linux GPIO character devices, through libgpiod 1.6 (``GPIODInputLinesV1``) or 2.x
/// (``GPIODInputLinesV2``), whichever ``GPIODLibrary`` opened.
///
/// Each line is requested for both-edge events under the consumer `panicd`, with the active-low and bias its
/// board entry asks for (``GPIODRequest``). ``edges()`` starts one thread that sleeps in `epoll_wait` on the lines'
/// event descriptors and reads each readable line's events with their kernel timestamps (CLOCK_MONOTONIC). The
/// lines are released by ``close()`` or when the value goes away.
public final class GPIODInputLines: InputLines {
    private let backend: any GPIODInputBackend

    /// Requests `specs` for edge events with the process's libgpiod. Throws the first request that fails, naming
    /// the line and chip (lines already requested are released again), or why libgpiod cannot be loaded.
    public convenience init(specs: [InputLineSpec]) throws(GPIODError) {
        try self.init(specs: specs, library: GPIODLibrary.loaded())
    }

    /// Requests `specs` for edge events through `library`.
    public init(specs: [InputLineSpec], library: GPIODLibrary) throws(GPIODError) {
        switch library.functions {
        case .v1(let api): backend = try GPIODInputLinesV1(specs: specs, api: api)
        case .v2(let api): backend = try GPIODInputLinesV2(specs: specs, api: api)
        }
    }

    public var specs: [InputLineSpec] { backend.specs }

    /// Reads each line's value (true means the contact is closed, active-low applied).
    public func contactsClosed() throws -> [Bool] { try backend.contactsClosed() }

    /// Starts the event thread and returns the edges it reads. Ending the iteration stops the thread.
    public func edges() -> AsyncThrowingStream<EdgeEvent, any Error> { backend.edges() }

    /// Reads every line's descriptor once, without waiting, into ``edges()``: the kernel's queued edges.
    public func deliverQueued() -> UInt64? { backend.deliverQueued() }

    /// How many times the event thread woke (for the benchmark).
    public var wakeups: Int { backend.wakeups }

    /// Stops the event thread and releases the lines.
    public func close() { backend.close() }
}

/// A board's output lines (status LED, buzzer) on Linux GPIO, through libgpiod 1.6 or 2.x, whichever
/// ``GPIODLibrary`` opened: requested as outputs under the consumer `panicd`, off at first, active-low where the
/// board says the output is on at `low`.
public final class GPIODOutputLines: OutputLines {
    private let backend: any OutputLines

    /// Requests `specs` as outputs, all off, with the process's libgpiod. Throws the first request that fails,
    /// naming the line and chip, or why libgpiod cannot be loaded.
    public convenience init(specs: [OutputLineSpec]) throws(GPIODError) {
        try self.init(specs: specs, library: GPIODLibrary.loaded())
    }

    /// Requests `specs` as outputs, all off, through `library`.
    public init(specs: [OutputLineSpec], library: GPIODLibrary) throws(GPIODError) {
        switch library.functions {
        case .v1(let api): backend = try GPIODOutputLinesV1(specs: specs, api: api)
        case .v2(let api): backend = try GPIODOutputLinesV2(specs: specs, api: api)
        }
    }

    public var specs: [OutputLineSpec] { backend.specs }

    /// Sets output `index`: true is on (active-low applied).
    public func set(_ index: Int, on: Bool) throws { try backend.set(index, on: on) }

    /// Turns everything off and releases the lines.
    public func close() { backend.close() }
}
