import PanicCore

/// The whole NMEA path in one value: framer, parser and fix tracker, with statistics.
///
/// Feed it byte chunks as they arrive; it calls back with each closed epoch. Nothing is allocated per
/// sentence. Rejections are counted by reason and, when a `rejected` handler is given (the daemon passes
/// one that logs at debug level), reported one by one.
public struct NMEADecoder: Sendable {
    public private(set) var framer: NMEAFramer
    public private(set) var parser = NMEAParser()
    public private(set) var tracker: FixTracker
    /// Sentences accepted and dropped, by reason.
    public private(set) var statistics = NMEAStatistics()

    public init(framing: NMEAFramer.Options = .init(), tracking: FixTracker.Options = .init()) {
        framer = NMEAFramer(options: framing)
        tracker = FixTracker(options: tracking)
    }

    /// Feeds a chunk heard at `instant`; calls `fix` for each closed epoch and `rejected` for each drop.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer, at instant: MonotonicInstant,
        rejected: ((NMEARejection) -> Void)? = nil, fix: (GNSSFix) -> Void
    ) {
        // Move the framer out of `self` (swapping in a storage-free placeholder), so it can be mutated while the
        // callback mutates the rest of `self` in place: nothing is copied, however small the chunk.
        var framer = NMEAFramer(placeholder: ())
        swap(&framer, &self.framer)
        framer.feed(chunk) { frame in
            Self.handle(frame, at: instant, &self.parser, &self.tracker, &self.statistics, rejected, fix)
        }
        statistics.skippedBytes = framer.skippedBytes
        swap(&framer, &self.framer)
    }

    /// Feeds a chunk of bytes from an array (convenience for tests and tools).
    public mutating func feed(
        _ bytes: [UInt8], at instant: MonotonicInstant, rejected: ((NMEARejection) -> Void)? = nil,
        fix: (GNSSFix) -> Void
    ) {
        bytes.withUnsafeBytes { feed($0, at: instant, rejected: rejected, fix: fix) }
    }

    /// Ends the stream: the last open sentence and the last epoch are finished.
    public mutating func finish(
        at instant: MonotonicInstant, rejected: ((NMEARejection) -> Void)? = nil, fix: (GNSSFix) -> Void
    ) {
        var framer = NMEAFramer(placeholder: ())
        swap(&framer, &self.framer)
        framer.finish { frame in
            Self.handle(frame, at: instant, &self.parser, &self.tracker, &self.statistics, rejected, fix)
        }
        if let last = tracker.flush() { fix(last) }
        statistics.skippedBytes = framer.skippedBytes
        swap(&framer, &self.framer)
    }

    private static func handle(
        _ frame: NMEAFrame, at instant: MonotonicInstant, _ parser: inout NMEAParser, _ tracker: inout FixTracker,
        _ statistics: inout NMEAStatistics, _ rejected: ((NMEARejection) -> Void)?,
        _ fix: (GNSSFix) -> Void
    ) {
        switch frame {
        case .rejected(let rejection):
            statistics.count(rejection.reason)
            rejected?(rejection)
        case .sentence(let body, let line):
            switch parser.parse(body) {
            case .sentence(let sentence):
                statistics.accepted &+= 1
                tracker.ingest(sentence, at: instant, closed: fix)
            case .rejected(let reason, let field):
                statistics.count(reason)
                rejected?(NMEARejection(reason: reason, line: line, field: field))
            }
        }
    }
}
