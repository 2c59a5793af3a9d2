import PanicCore
import PanicHardware
import Synchronization

/// The simulated board's supply monitor: the main voltage follows the simulated power-sense line (a scenario's
/// `main_power: off` drops it to 0 V, `on` brings back ``mainVolts``), and the backup battery drains slowly while
/// main power is off and charges while it is on.
public final class SimulatedSupply: SupplyMonitor {
    /// The main voltage while main power is present.
    public let mainVolts: Double
    /// Percent lost per minute on battery, and gained per minute while charging.
    public let drainPerMinute: Double
    public let chargePerMinute: Double
    private let lines: SimulatedInputLines
    private let clock: any MonotonicClock
    private let state: Mutex<(percent: Double, at: MonotonicInstant)>

    public init(
        lines: SimulatedInputLines, clock: any MonotonicClock, mainVolts: Double = 12.6, batteryPercent: Double = 90,
        drainPerMinute: Double = 0.5, chargePerMinute: Double = 0.2
    ) {
        self.lines = lines
        self.clock = clock
        self.mainVolts = mainVolts
        self.drainPerMinute = drainPerMinute
        self.chargePerMinute = chargePerMinute
        state = Mutex((batteryPercent, clock.now))
    }

    /// Whether main power is present (true when the board has no power-sense line).
    public var mainPowerOn: Bool {
        guard let index = try? lines.index(of: .power), let closed = try? lines.contactsClosed() else { return true }
        return lines.specs[index].contact == .normallyOpen ? closed[index] : !closed[index]
    }

    public func readSupply() async throws(TelemetryReadError) -> Telemetry.Supply {
        let on = mainPowerOn
        let now = clock.now
        let percent = state.withLock { state -> Double in
            let minutes = Double(state.at.duration(to: now).components.seconds) / 60
            let change = on ? chargePerMinute * minutes : -drainPerMinute * minutes
            state = (min(100, max(0, state.percent + change)), now)
            return state.percent
        }
        // A single Li-ion cell: about 3.5 V empty, 4.2 V full.
        let backup = ((3.5 + 0.7 * percent / 100) * 100).rounded() / 100
        return Telemetry.Supply(
            mainVolts: on ? mainVolts : 0, backupVolts: backup, batteryPercent: Int(percent.rounded()))
    }
}
