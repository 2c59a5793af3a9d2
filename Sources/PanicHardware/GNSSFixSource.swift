import NMEA
import PanicCore
import Synchronization

/// The GNSS seam the daemon reads: position fixes, however the receiver is reached. Each source carries its own
/// decoder, so no consumer has to know what the receiver speaks.
///
/// Implementations: `NMEAFixSource` (NMEA bytes from a serial port, a pseudo-terminal, a recording or the
/// simulator) and `GPSDSource` in PanicLinux (gpsd's JSON reports).
public protocol GNSSFixSource: Sendable {
    /// Calls `deliver` once for each chunk heard from the receiver, with the fixes it completed (often none: an
    /// epoch ends when the next one starts), until the source ends or the task is cancelled.
    func run(_ deliver: @Sendable (_ fixes: [GNSSFix]) async throws -> Void) async throws
}

/// A receiver that speaks NMEA 0183: its bytes through the framer, parser and fix tracker.
public struct NMEAFixSource: GNSSFixSource {
    public let bytes: any GNSSByteSource
    let options: (framing: NMEAFramer.Options, tracking: FixTracker.Options)
    let rejected: @Sendable (NMEARejection) -> Void

    /// `rejected` hears every sentence the decoder drops, with the reason.
    public init(
        _ bytes: any GNSSByteSource, framing: NMEAFramer.Options = .init(), tracking: FixTracker.Options = .init(),
        rejected: @escaping @Sendable (NMEARejection) -> Void = { _ in }
    ) {
        self.bytes = bytes
        options = (framing, tracking)
        self.rejected = rejected
    }

    public func run(_ deliver: @Sendable ([GNSSFix]) async throws -> Void) async throws {
        let decoder = Mutex(NMEADecoder(framing: options.framing, tracking: options.tracking))
        let rejected = rejected
        try await bytes.run { chunk in
            let fixes = decoder.withLock { decoder in
                var fixes: [GNSSFix] = []
                decoder.feed(chunk.bytes, at: chunk.receivedAt, rejected: rejected) { fixes.append($0) }
                return fixes
            }
            try await deliver(fixes)
        }
    }
}
