import Foundation
import Logging
import NMEA
import PanicCore
import PanicHardware
import Synchronization

/// Reads a GNSS fix source and keeps the last position fix, so every record can carry
/// where the box was and how old that knowledge is — an alert never waits for a fix.
///
/// It is also the box's wall clock: the boards have no RTC, so a recent GNSS fix's UTC time (advanced by its
/// age) is preferred over the system clock, and every record says which it used.
public final class FixKeeper: Sendable {
    private struct State {
        var lastPosition: GNSSFix?
        var lastEpoch: GNSSFix?
        var chunks = 0
        /// The last fix of a previous run (``LastFixFile``), until this run has one of its own.
        var saved: LastFixFile.Contents?
    }

    private let state = Mutex(State())
    let clock: any MonotonicClock
    let logger: Logger
    /// A GNSS time older than this is not trusted as the wall clock.
    let timeTrustWindow: Duration
    let systemTime: @Sendable () -> Date

    public init(
        clock: any MonotonicClock, logger: Logger, timeTrustWindow: Duration = .seconds(600),
        systemTime: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.clock = clock
        self.logger = logger
        self.timeTrustWindow = timeTrustWindow
        self.systemTime = systemTime
    }

    /// Reads `source` until it ends or the task is cancelled; `firstFix` is called when the run's first position
    /// fix arrives.
    public func run(source: some GNSSFixSource, firstFix: @escaping @Sendable () -> Void = {}) async throws {
        try await source.run { fixes in
            let first = self.state.withLock { state in
                let had = state.lastPosition != nil
                state.chunks += 1
                for fix in fixes {
                    state.lastEpoch = fix
                    if fix.hasPosition { state.lastPosition = fix }
                }
                return !had && state.lastPosition != nil
            }
            if first { firstFix() }
        }
    }

    /// How many chunks heard from the receiver have been decoded.
    public var chunksDecoded: Int { state.withLock { $0.chunks } }

    /// Whether the receiver's latest epoch has a position (false in a tunnel).
    public var hasCurrentFix: Bool { state.withLock { $0.lastEpoch?.hasPosition ?? false } }

    /// Starts from a previous run's last fix: until the receiver gives one, records carry it, its age counted on
    /// the wall clock from when it was taken (the monotonic clock does not survive a restart).
    public func restore(_ saved: LastFixFile.Contents) {
        state.withLock { $0.saved = saved }
    }

    /// The last fix as ``LastFixFile`` keeps it (taken at the wall time its age says), nil when there is none.
    public func savable(at now: MonotonicInstant) -> LastFixFile.Contents? {
        let saved = state.withLock { $0.lastPosition == nil ? $0.saved : nil }
        if let saved { return saved }
        guard var fix = recordFix(at: now) else { return nil }
        let taken = wallTime(at: now).time.epochMilliseconds - fix.ageMilliseconds
        fix.ageMilliseconds = 0
        return LastFixFile.Contents(fix: fix, takenMilliseconds: taken)
    }

    /// The last position fix as a record carries it, with its age at `now`; nil when there has never been one
    /// (in this run or, restored, in a previous one).
    public func recordFix(at now: MonotonicInstant) -> RecordFix? {
        let (live, saved) = state.withLock { ($0.lastPosition, $0.saved) }
        guard let fix = live else {
            guard let saved else { return nil }
            var restored = saved.fix
            // A wall clock behind the fix's time (a box without an RTC, woken from a power cut before its clock is
            // set) cannot say how old it is. It is from before the restart, so it is never sent as a current fix:
            // its age is taken as just past the validity limit (the frames' fix flag says "last known", `V`/`0`).
            let measured = wallTime(at: now).time.epochMilliseconds - saved.takenMilliseconds
            restored.ageMilliseconds = measured >= 0 ? measured : AIS140.validFixAgeMilliseconds + 1
            return restored
        }
        guard let latitude = fix.latitude, let longitude = fix.longitude else { return nil }
        return RecordFix(
            latitude: latitude, longitude: longitude, altitude: fix.altitudeMSL, speed: fix.speed, course: fix.track,
            mode: fix.mode == .threeD ? .threeD : .twoD, hdop: fix.hdop, satellites: fix.satellitesUsed,
            fixTime: Self.utc(fix).map { RecordTime(epochMilliseconds: Int64($0.timeIntervalSince1970 * 1000)) },
            ageMilliseconds: fix.age(at: now).milliseconds)
    }

    /// No wall clock before this is believed, from the receiver or the system (2024-01-01T00:00:00Z).
    public static let earliestPlausible = Date(timeIntervalSince1970: 1_704_067_200)
    /// How far a GNSS time may stray from a plausible system clock and still be trusted: far more than a box's
    /// clock drifts while unpowered (fake-hwclock, weeks), far less than a GPS week rollover (1024 weeks).
    public static let maximumDisagreement: TimeInterval = 180 * 86_400

    /// The wall time now and where it came from: a trusted GNSS time advanced by its age, else the system clock.
    ///
    /// GNSS time is trusted only when the receiver's date exists in the calendar (the NMEA parser refuses
    /// 31 February), is not flagged as a week-rollover suspect, is recent (`timeTrustWindow`), is on or after
    /// `earliestPlausible`, and — when the system clock is itself plausible (set by NTP or a saved clock) — lies
    /// within `maximumDisagreement` of it. A box without an RTC boots in 1970: there, any plausible GNSS time wins.
    public func wallTime(at now: MonotonicInstant) -> (time: RecordTime, source: TimeSource) {
        let epoch = state.withLock { $0.lastEpoch }
        let system = systemTime()
        if let epoch, !epoch.dateSuspect, let utc = Self.utc(epoch), epoch.age(at: now) <= timeTrustWindow {
            let date = utc.addingTimeInterval(Double(epoch.age(at: now).milliseconds) / 1000)
            let systemPlausible = system >= Self.earliestPlausible
            if date >= Self.earliestPlausible,
                !systemPlausible || abs(date.timeIntervalSince(system)) <= Self.maximumDisagreement
            {
                return (RecordTime(epochMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded())), .gnss)
            }
        }
        return (RecordTime(epochMilliseconds: Int64((system.timeIntervalSince1970 * 1000).rounded())), .system)
    }

    /// The fix's UTC date and time as a `Date`, when it has both.
    static func utc(_ fix: GNSSFix) -> Date? {
        guard let date = fix.date, let time = fix.time,
            UTCDate.calendarValid(year: date.year, month: date.month, day: date.day) != nil
        else { return nil }
        // Plain arithmetic, not `Calendar`: Foundation's Gregorian calendar resolves the time zone through ICU, whose
        // data and code would stay resident in the idle daemon for this one sum (docs/daemon.md → Backends that sleep).
        let days = RecordTime.days(fromCivil: Int64(date.year), Int64(date.month), Int64(date.day))
        let seconds = days * 86_400 + Int64((time.hour * 60 + time.minute) * 60 + time.second)
        return Date(timeIntervalSince1970: Double(seconds) + Double(time.nanosecond) / 1e9)
    }
}
