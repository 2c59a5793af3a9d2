import PanicCore

/// The simulators' rule for moving a virtual clock with real I/O underneath: time may move on only when every
/// part waits for it.
enum VirtualTime {
    /// Returns once nothing is in hand (`busy` is false) and the set of sleepers on `clock` has stayed the same for
    /// a few rounds of yields: every part is then waiting for the clock, or for records that will not come without
    /// it. While real I/O is under way (HTTP on loopback, fsync) it gives that real time rather than spin.
    static func settle(clock: ManualClock, busy: () -> Bool) async {
        var stableRounds = 0
        var lastSleepers = -1
        var rounds = 0
        while stableRounds < 3 {
            for _ in 0..<20 { await Task.yield() }
            let isBusy = busy()
            let sleepers = clock.sleeperCount
            stableRounds = !isBusy && sleepers == lastSleepers ? stableRounds + 1 : 0
            lastSleepers = sleepers
            rounds += 1
            if isBusy, rounds > 5 { try? await Task.sleep(for: .milliseconds(1)) }
        }
    }
}
