import Logging
import PanicCore
import PanicHardware
import Synchronization

/// Reads the modem's radio and the board's supply on a schedule and keeps the latest readings, so every record
/// carries them (``current``) without waiting for a modem: at start, every ``interval`` (daemon configuration
/// `telemetry.interval`, 60 s by default) and at once when an alert is raised (``refresh()``). One timer on the
/// injected clock between readings: one wakeup a minute, nothing while idle beyond it.
///
/// A reading that fails leaves that part unknown (nil) in the records that follow, never the old value presented as
/// new nor a zero; the failure is logged once until the part reads again.
public final class TelemetryKeeper: Sendable {
    public let interval: Duration
    private let radio: (any RadioMonitor)?
    private let supply: (any SupplyMonitor)?
    private let clock: any MonotonicClock
    private let logger: Logger
    private let latest = Mutex<(radio: Telemetry.Radio?, supply: Telemetry.Supply?)>((nil, nil))
    private let failing = Mutex<(radio: Bool, supply: Bool)>((false, false))
    private let reading = Mutex(false)
    private let readings = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))
    private enum Signal: Sendable {
        case tick(UInt64)
        case refresh
    }
    private let signals: AsyncStream<Signal>
    private let signalSink: AsyncStream<Signal>.Continuation

    public init(
        radio: (any RadioMonitor)?, supply: (any SupplyMonitor)?, interval: Duration = .seconds(60),
        clock: any MonotonicClock, logger: Logger
    ) {
        self.radio = radio
        self.supply = supply
        self.interval = interval
        self.clock = clock
        self.logger = logger
        (signals, signalSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(8))
    }

    /// Whether there is anything to read (a modem or a supply monitor).
    public var monitors: Bool { radio != nil || supply != nil }

    /// Whether a reading is in progress (the virtual-time simulator waits for it before moving its clock).
    public var isBusy: Bool { reading.withLock { $0 } }

    /// How many readings were completed.
    public var completedReadings: Int { readings.withLock { $0.count } }

    /// Returns once `count` readings have completed (the simulator and tests wait for the first).
    public func completed(_ count: Int) async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = readings.withLock { state in
                if state.count >= count { return true }
                state.waiters.append((count, waiter))
                return false
            }
            if done { waiter.resume() }
        }
    }

    /// The latest readings with the box's state as given: the ignition, main power and enclosure inputs (nil when
    /// the board has none) and whether an emergency is open.
    public func current(
        ignition: Bool?, mainPower: Bool? = nil, enclosureOpen: Bool? = nil, emergencyOpen: Bool? = nil
    ) -> Telemetry? {
        let (radio, supply) = latest.withLock { $0 }
        let telemetry = Telemetry(
            radio: radio, supply: supply, ignition: ignition, mainPower: mainPower, enclosureOpen: enclosureOpen,
            emergencyOpen: emergencyOpen)
        return telemetry.isEmpty ? nil : telemetry
    }

    /// Asks for a reading now (an alert was raised); coalesced with one already asked for.
    public func refresh() {
        guard monitors else { return }
        signalSink.yield(.refresh)
    }

    /// Reads at once, then on the schedule and on request, until cancelled.
    public func run() async {
        guard monitors else { return }
        var timer = DeadlineTimer(clock: clock)
        defer { timer.cancel() }
        let sink = signalSink
        let fire: @Sendable (UInt64) -> Void = { sink.yield(.tick($0)) }
        await read()
        timer.arm(clock.now.advanced(by: interval), fire: fire)
        for await signal in signals {
            if Task.isCancelled { break }
            if case .tick(let generation) = signal, !timer.fired(generation) { continue }
            await read()
            // After an alert's reading the schedule starts over: the next one is an interval later.
            timer.cancel()
            timer.arm(clock.now.advanced(by: interval), fire: fire)
        }
    }

    /// Stops ``run()``.
    public func finish() { signalSink.finish() }

    private func read() async {
        reading.withLock { $0 = true }
        defer {
            reading.withLock { $0 = false }
            let due = readings.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.count += 1
                let count = state.count
                defer { state.waiters.removeAll { $0.0 <= count } }
                return state.waiters.filter { $0.0 <= count }.map(\.1)
            }
            for waiter in due { waiter.resume() }
        }
        if let radio {
            do {
                let value = try await radio.readRadio()
                latest.withLock { $0.radio = value }
                recovered(\.radio, "radio")
            } catch {
                latest.withLock { $0.radio = nil }
                failed(\.radio, "radio", error)
            }
        }
        if let supply {
            do {
                let value = try await supply.readSupply()
                latest.withLock { $0.supply = value }
                recovered(\.supply, "supply")
            } catch {
                latest.withLock { $0.supply = nil }
                failed(\.supply, "supply", error)
            }
        }
    }

    private func failed(
        _ part: WritableKeyPath<(radio: Bool, supply: Bool), Bool>, _ name: String, _ error: TelemetryReadError
    ) {
        let first = failing.withLock { state in
            defer { state[keyPath: part] = true }
            return !state[keyPath: part]
        }
        if first {
            logger.warning(
                "\(name) reading failed: values unknown until it reads again", metadata: ["error": "\(error)"])
        }
    }

    private func recovered(_ part: WritableKeyPath<(radio: Bool, supply: Bool), Bool>, _ name: String) {
        let was = failing.withLock { state in
            defer { state[keyPath: part] = false }
            return state[keyPath: part]
        }
        if was { logger.notice("\(name) reading works again") }
    }
}
