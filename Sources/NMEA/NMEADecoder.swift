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
        // Move the parts the callback mutates out of `self` (swapping in storage-free placeholders), so the
        // framer can be mutated alongside them without copying any buffer.
        var parser = NMEAParser(placeholder: ())
        swap(&parser, &self.parser)
        var statistics = NMEAStatistics(placeholder: ())
        swap(&statistics, &self.statistics)
        var tracker = self.tracker
        framer.feed(chunk) { frame in
            Self.handle(frame, at: instant, &parser, &tracker, &statistics, rejected, fix)
        }
        statistics.skippedBytes = framer.skippedBytes
        self.parser = parser
        self.tracker = tracker
        self.statistics = statistics
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
        // Move the parts the callback mutates out of `self` (swapping in storage-free placeholders), so the
        // framer can be mutated alongside them without copying any buffer.
        var parser = NMEAParser(placeholder: ())
        swap(&parser, &self.parser)
        var statistics = NMEAStatistics(placeholder: ())
        swap(&statistics, &self.statistics)
        var tracker = self.tracker
        framer.finish { frame in
            Self.handle(frame, at: instant, &parser, &tracker, &statistics, rejected, fix)
        }
        if let last = tracker.flush() { fix(last) }
        statistics.skippedBytes = framer.skippedBytes
        self.parser = parser
        self.tracker = tracker
        self.statistics = statistics
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
                if let closed = tracker.ingest(sentence, at: instant) { fix(closed) }
            case .rejected(let reason, let field):
                statistics.count(reason)
                rejected?(NMEARejection(reason: reason, line: line, field: field))
            }
        }
    }
}
