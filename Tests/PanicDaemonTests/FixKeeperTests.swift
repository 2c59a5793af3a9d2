import Foundation
import Logging
import NMEA
import PanicCore
import PanicDaemon
import PanicHardware
import PanicSim
import Testing

@Suite("GNSS into the fix records carry", .timeLimit(.minutes(2)))
struct FixKeeperTests {
    static let route = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../sim/routes/jaipur-jctsl-3a.csv").standardized.path

    @Test("a simulated bus's NMEA becomes a located fix with its age, GNSS time, then a stale fix in a tunnel")
    func simulatedRoute() async throws {
        let clock = ManualClock()
        let start = Date(timeIntervalSince1970: 1_795_422_600)
        let gnss = SimulatedGNSS(
            drive: RouteDrive(route: try Route.load(path: Self.route)), clock: clock, startDate: start)
        let keeper = FixKeeper(
            clock: clock, logger: Logger(label: "test"), systemTime: { Date(timeIntervalSince1970: 0) })
        #expect(keeper.recordFix(at: clock.now) == nil)
        #expect(keeper.wallTime(at: clock.now).source == .system)

        let task = Task { try await keeper.run(source: NMEAFixSource(gnss)) }
        // Each epoch is closed when the next one starts: run a few seconds of receiver output.
        for _ in 0..<5 {
            while clock.sleeperCount == 0 { await Task.yield() }
            clock.advance(by: .seconds(1))
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        let fix = try #require(keeper.recordFix(at: clock.now))
        #expect(abs(fix.latitude - 26.92476) < 0.001)
        #expect(abs(fix.longitude - 75.81877) < 0.001)
        #expect(fix.mode == .threeD)
        #expect(fix.ageMilliseconds <= 2000)
        let wall = keeper.wallTime(at: clock.now)
        #expect(wall.source == .gnss)
        #expect(abs(wall.time.epochMilliseconds - 1_795_422_605_000) <= 1000)

        // Into a tunnel: the last fix is kept, and ages.
        gnss.isAvailable = false
        for _ in 0..<30 {
            while clock.sleeperCount == 0 { await Task.yield() }
            clock.advance(by: .seconds(1))
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        #expect(keeper.hasCurrentFix == false)
        let stale = try #require(keeper.recordFix(at: clock.now))
        #expect(stale.ageMilliseconds >= 28_000)
        task.cancel()
    }

    /// `$BODY*CS\r\n` with the XOR checksum.
    static func sentence(_ body: String) -> String {
        let checksum = body.utf8.reduce(UInt8(0)) { $0 ^ $1 }
        return "$" + body + "*" + String(checksum, radix: 16, uppercase: true).leftPadded + "\r\n"
    }

    /// Feeds `bodies` (one epoch each, plus a closing one) through the NMEA decoder into a fix keeper.
    static func keeper(
        epochs bodies: [String], systemTime: Date, clock: ManualClock
    ) async throws -> FixKeeper {
        let keeper = FixKeeper(clock: clock, logger: Logger(label: "test"), systemTime: { systemTime })
        let segments = bodies.map { GNSSReplaySource.Segment(offset: .zero, bytes: Array(sentence($0).utf8)) }
        try await keeper.run(
            source: NMEAFixSource(GNSSReplaySource(segments: segments, pace: .asFastAsPossible, clock: clock)))
        return keeper
    }

    static let rmc = "GPRMC,083000.00,A,2655.4856,N,07549.1262,E,0.5,90.0,DATE,0.00,E,A"

    @Test("31 February from the receiver is not a time: records take the system clock, and say so")
    func impossibleDate() async throws {
        let clock = ManualClock()
        let system = Date(timeIntervalSince1970: 1_795_422_600)
        let keeper = try await Self.keeper(
            epochs: [
                Self.rmc.replacingOccurrences(of: "DATE", with: "310226"),
                Self.rmc.replacingOccurrences(of: "083000", with: "083001").replacingOccurrences(
                    of: "DATE", with: "310226"),
            ], systemTime: system, clock: clock)
        let wall = keeper.wallTime(at: clock.now)
        #expect(wall.source == .system)
        #expect(wall.time.epochMilliseconds == 1_795_422_600_000)
    }

    @Test("a valid GNSS time is preferred, unless a plausible system clock disagrees by more than the bound")
    func systemClockSanity() async throws {
        let clock = ManualClock()
        let epochs = [
            Self.rmc.replacingOccurrences(of: "DATE", with: "231126"),
            Self.rmc.replacingOccurrences(of: "083000", with: "083001").replacingOccurrences(
                of: "DATE", with: "231126"),
        ]
        // A box without an RTC booted in 1970: the receiver's time wins.
        let booted = try await Self.keeper(epochs: epochs, systemTime: Date(timeIntervalSince1970: 30), clock: clock)
        #expect(booted.wallTime(at: clock.now).source == .gnss)
        #expect(booted.wallTime(at: clock.now).time.epochMilliseconds == 1_795_422_600_000)
        // A system clock a few days off (a saved clock after a week unpowered): the receiver still wins.
        let saved = try await Self.keeper(
            epochs: epochs, systemTime: Date(timeIntervalSince1970: 1_795_422_600 - 7 * 86_400), clock: clock)
        #expect(saved.wallTime(at: clock.now).source == .gnss)
        // An NTP-set clock 1024 weeks ahead of the receiver's (a week-rollover receiver): the system clock wins.
        let rollover = try await Self.keeper(
            epochs: epochs, systemTime: Date(timeIntervalSince1970: 1_795_422_600 + 1024 * 7 * 86_400), clock: clock)
        #expect(rollover.wallTime(at: clock.now).source == .system)
    }
}

extension String {
    /// Two hex digits.
    fileprivate var leftPadded: String { count < 2 ? "0" + self : self }
}
