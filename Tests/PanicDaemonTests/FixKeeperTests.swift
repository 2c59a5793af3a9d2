import Foundation
import Logging
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
}
