import PanicCore

/// A chunk of bytes from a GNSS source and when it arrived on the monotonic clock.
public struct GNSSChunk: Sendable, Hashable {
    public var bytes: [UInt8]
    public var receivedAt: MonotonicInstant

    public init(bytes: [UInt8], receivedAt: MonotonicInstant) {
        self.bytes = bytes
        self.receivedAt = receivedAt
    }
}

/// NMEA 0183 bytes from a receiver, however it is reached: a serial port through libserialport and a
/// pseudo-terminal (PanicLinux), a recording replayed by `GNSSReplaySource`, and the simulator. Consumers do not
/// read these: `NMEAFixSource` puts the decoder behind them and hands on fixes (the seam is `GNSSFixSource`).
public protocol GNSSByteSource: Sendable {
    /// Delivers chunks as they arrive, until the source ends (a recording) or the task is cancelled.
    /// Sources that reconnect (the serial port) do so inside `run` and only return on cancellation.
    func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws
}

/// Replays recorded bytes, either at the recording's own pace or as fast as possible, on an injected clock.
///
/// The recording arrives already cut into segments with their offsets from the start (NMEA's
/// `NMEARecording.segments` cuts an NMEA log at each new receiver time), so this type needs no parser.
public struct GNSSReplaySource: GNSSByteSource {
    /// How fast to replay.
    public enum Pace: Sendable, Hashable {
        /// Each segment at its recorded offset from the start, measured on the clock.
        case recorded
        /// Every segment at once, one after another.
        case asFastAsPossible
    }

    /// One piece of the recording and when, from the start, it was heard.
    public struct Segment: Sendable, Hashable {
        public var offset: Duration
        public var bytes: [UInt8]

        public init(offset: Duration, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    public let segments: [Segment]
    public let pace: Pace
    public let clock: any MonotonicClock

    public init(segments: [Segment], pace: Pace, clock: any MonotonicClock) {
        self.segments = segments
        self.pace = pace
        self.clock = clock
    }

    public func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws {
        let start = clock.now
        for segment in segments {
            if pace == .recorded {
                try await clock.sleep(until: start.advanced(by: segment.offset), tolerance: nil)
            } else {
                try Task.checkCancellation()
            }
            try await deliver(GNSSChunk(bytes: segment.bytes, receivedAt: clock.now))
        }
    }
}
