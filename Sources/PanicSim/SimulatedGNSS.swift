import Foundation
import PanicCore
import PanicHardware
import Synchronization

/// A GNSS receiver on a bus driving its route: one epoch of NMEA (RMC, GGA, GSA, GSV with NavIC) per second on
/// the injected clock, the same bytes a real receiver sends, so the daemon's framer, parser and tracker run
/// unchanged. It can lose the sky (a tunnel, a depot) and regain it.
public final class SimulatedGNSS: GNSSByteSource {
    let drive: RouteDrive
    let clock: any MonotonicClock
    /// Wall time at the clock's `origin`.
    let startDate: Date
    let origin: MonotonicInstant
    let synthesizer = NMEASynthesizer()
    private let available = Mutex(true)
    /// Copies of every epoch's bytes go here too (e.g. a pseudo-terminal for gpsd), when set.
    private let tap = Mutex<(@Sendable ([UInt8]) -> Void)?>(nil)

    public init(drive: RouteDrive, clock: any MonotonicClock, startDate: Date, origin: MonotonicInstant? = nil) {
        self.drive = drive
        self.clock = clock
        self.startDate = startDate
        self.origin = origin ?? clock.now
    }

    /// Whether the receiver sees the sky.
    public var isAvailable: Bool {
        get { available.withLock { $0 } }
        set { available.withLock { $0 = newValue } }
    }

    /// Sends every epoch's bytes to `sink` as well (for exposing the stream on a pseudo-terminal).
    public func setTap(_ sink: (@Sendable ([UInt8]) -> Void)?) { tap.withLock { $0 = sink } }

    /// Where the bus is at `instant` (whatever the receiver sees).
    public func busState(at instant: MonotonicInstant) -> RouteDrive.State {
        drive.state(at: origin.duration(to: instant))
    }

    /// The bytes of the epoch at `instant`.
    public func epoch(at instant: MonotonicInstant) -> [UInt8] {
        let elapsed = origin.duration(to: instant)
        let date = startDate.addingTimeInterval(Double(elapsed.milliseconds) / 1000)
        let state = isAvailable ? drive.state(at: elapsed) : nil
        return Array(synthesizer.epoch(time: date, state: state).joined().utf8)
    }

    public func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws {
        // Epochs on whole seconds since the origin, like a receiver's 1 Hz output.
        var next = origin.advanced(by: .seconds(origin.duration(to: clock.now).components.seconds))
        while true {
            try await clock.sleep(until: next, tolerance: nil)
            let bytes = epoch(at: next)
            tap.withLock { $0 }?(bytes)
            try await deliver(GNSSChunk(bytes: bytes, receivedAt: next))
            next = next.advanced(by: .seconds(1))
        }
    }
}

/// A GNSS byte source the simulator's conductor pushes epochs into, so receiver output on a virtual clock is
/// exactly one epoch per simulated second however far the clock jumps.
public final class PushedGNSSSource: GNSSByteSource {
    private let stream: AsyncStream<GNSSChunk>
    private let sink: AsyncStream<GNSSChunk>.Continuation
    private let count = Mutex(0)

    public init() { (stream, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded) }

    /// Queues a chunk for the reader.
    public func push(_ chunk: GNSSChunk) {
        count.withLock { $0 += 1 }
        sink.yield(chunk)
    }

    /// How many chunks were pushed so far.
    public var pushed: Int { count.withLock { $0 } }

    public func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws {
        for await chunk in stream { try await deliver(chunk) }
    }
}
