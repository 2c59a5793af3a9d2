import Foundation
import Logging
import PanicCore
import PanicSigning

/// The simulators' rule for moving a virtual clock with real I/O underneath: time may move on only when every
/// part waits for it.
enum VirtualTime {
    /// Returns once nothing is in hand (`busy` is false) and the set of sleepers on `clock` has stayed the same for
    /// a few rounds of yields: every part is then waiting for the clock, or for records that will not come without
    /// it. While real I/O is under way (HTTP on loopback, fsync) it gives that real time rather than spin. Throws
    /// `CancellationError` when the task is cancelled: a part that stays busy must not hold the run forever.
    static func settle(clock: ManualClock, busy: () -> Bool) async throws {
        var stableRounds = 0
        var lastSleepers = -1
        var rounds = 0
        while stableRounds < 3 {
            for _ in 0..<20 { await Task.yield() }
            try Task.checkCancellation()
            let isBusy = busy()
            let sleepers = clock.sleeperCount
            stableRounds = !isBusy && sleepers == lastSleepers ? stableRounds + 1 : 0
            lastSleepers = sleepers
            rounds += 1
            if isBusy, rounds > 5 { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}

/// How a simulation's time passes.
public enum SimulationPace: Sendable, Equatable {
    /// A virtual clock that jumps to the next thing that happens once every part waits for it: hours in seconds.
    case virtual
    /// The system's monotonic clock: as a box on a bus lives, for interactive use and external control rooms.
    case realtime
}

/// A simulation's time: its clock, and the wall time the boxes and the control room read off it.
struct SimulatedTime: Sendable {
    let clock: any MonotonicClock
    let origin: MonotonicInstant
    /// Wall time at `origin`.
    let start: Date

    /// Time since the run started.
    var elapsed: Duration { origin.duration(to: clock.now) }

    /// Wall time now, as the simulated boxes see it.
    var wallNow: Date { start.addingTimeInterval(Double(elapsed.milliseconds) / 1000) }

    /// The same, as records and the control room keep it.
    var recordNow: RecordTime { RecordTime(epochMilliseconds: Int64(wallNow.timeIntervalSince1970 * 1000)) }
}

/// What every simulated box of one run shares: the time, the control room to send to.
struct SimulationWorld: Sendable {
    let time: SimulatedTime
    /// The control room's upload URL and the key its commands are signed with.
    let controlRoomURL: String
    let controlRoomKey: DeviceIdentity
    /// The parts' own logs (quiet: the timeline says what happened).
    let partsLogger: Logger
}
