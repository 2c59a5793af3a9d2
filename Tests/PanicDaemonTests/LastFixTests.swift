import Foundation
import Logging
import PanicCore
import PanicDaemon
import Testing

/// The last fix kept across restarts, its save rule, and the watchdog's word on the last reset.
@Suite("Last fix across restarts, watchdog boot status")
struct LastFixTests {
    static let fix = RecordFix(latitude: 26.912434, longitude: 75.787271, mode: .threeD, ageMilliseconds: 0)

    @Test("a restored fix is what records carry until the receiver gives one, aged on the wall clock")
    func restoredFixAges() {
        let clock = ManualClock()
        let keeper = FixKeeper(
            clock: clock, logger: Logger(label: "test"), systemTime: { Date(timeIntervalSince1970: 1_800_000_100) })
        #expect(keeper.recordFix(at: clock.now) == nil)
        keeper.restore(LastFixFile.Contents(fix: Self.fix, takenMilliseconds: 1_800_000_000_000))
        let carried = keeper.recordFix(at: clock.now)
        #expect(carried?.latitude == 26.912434 && carried?.longitude == 75.787271)
        #expect(carried?.ageMilliseconds == 100_000)
        // Saved again unchanged (still the previous run's fix, with its own time).
        #expect(
            keeper.savable(at: clock.now) == LastFixFile.Contents(fix: Self.fix, takenMilliseconds: 1_800_000_000_000))
    }

    /// A Pi without an RTC wakes from a power cut with a clock behind the fix's time: the restored fix must not go
    /// out as a current one (fix flag `1`/`A`) for a position from before the cut.
    @Test("a wall clock behind the fix's time (no RTC, not yet set): the restored fix is stale, never current")
    func clockBehind() throws {
        let clock = ManualClock()
        let keeper = FixKeeper(
            clock: clock, logger: Logger(label: "test"), systemTime: { Date(timeIntervalSince1970: 0) })
        keeper.restore(LastFixFile.Contents(fix: Self.fix, takenMilliseconds: 1_800_000_000_000))
        let fix = try #require(keeper.recordFix(at: clock.now))
        #expect(fix.ageMilliseconds > AIS140.validFixAgeMilliseconds)
    }

    @Test("saved at most once a minute while it changes; at once with an alert or at a stop; never unchanged")
    func saveRule() {
        let a = LastFixFile.Contents(fix: Self.fix, takenMilliseconds: 1)
        var moved = Self.fix
        moved.latitude += 0.001
        let b = LastFixFile.Contents(fix: moved, takenMilliseconds: 2)
        let t0 = MonotonicInstant(sinceOrigin: .seconds(100))
        let t30 = MonotonicInstant(sinceOrigin: .seconds(130))
        let t60 = MonotonicInstant(sinceOrigin: .seconds(160))
        #expect(!LastFixFile.due(nil, saved: a, lastSave: t0, now: t60, urgent: true))
        #expect(!LastFixFile.due(a, saved: a, lastSave: t0, now: t60, urgent: true))
        #expect(LastFixFile.due(b, saved: a, lastSave: nil, now: t0, urgent: false))
        #expect(!LastFixFile.due(b, saved: a, lastSave: t0, now: t30, urgent: false))
        #expect(LastFixFile.due(b, saved: a, lastSave: t0, now: t30, urgent: true))
        #expect(LastFixFile.due(b, saved: a, lastSave: t0, now: t60, urgent: false))
    }

    @Test("watchdog: WDIOF_CARDRESET in any bootstatus (decimal or hex) says the watchdog reset the board")
    func watchdog() throws {
        #expect(Watchdog.bootstatusSaysWatchdog("32\n"))
        #expect(Watchdog.bootstatusSaysWatchdog("0x0020"))
        #expect(!Watchdog.bootstatusSaysWatchdog("0\n"))
        #expect(!Watchdog.bootstatusSaysWatchdog("1"))
        #expect(!Watchdog.bootstatusSaysWatchdog("garbage"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wd-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, status) in [("watchdog0", "0"), ("watchdog1", "32")] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(name)", withIntermediateDirectories: true)
            try status.write(toFile: "\(directory)/\(name)/bootstatus", atomically: true, encoding: .utf8)
        }
        #expect(Watchdog.lastResetWasWatchdog(directory: directory))
        try "0".write(toFile: "\(directory)/watchdog1/bootstatus", atomically: true, encoding: .utf8)
        #expect(!Watchdog.lastResetWasWatchdog(directory: directory))
        #expect(!Watchdog.lastResetWasWatchdog(directory: directory + "/none"))
    }
}
