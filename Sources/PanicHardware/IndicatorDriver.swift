import PanicCore

/// Plays the ``Indicator`` state machine onto a board's LED and buzzer, timing steps on the injected clock.
///
/// ``show(_:)`` hands it a new state; ``run()`` carries out the patterns until cancelled or ``finish()``.
public final class IndicatorDriver: Sendable {
    private let outputs: any OutputLines
    private let clock: any MonotonicClock
    private let requests: AsyncStream<IndicatorState>
    private let continuation: AsyncStream<IndicatorState>.Continuation

    public init(outputs: any OutputLines, clock: any MonotonicClock) {
        self.outputs = outputs
        self.clock = clock
        (requests, continuation) = AsyncStream.makeStream(of: IndicatorState.self, bufferingPolicy: .unbounded)
    }

    /// Asks the indicator to show `state` from now on.
    public func show(_ state: IndicatorState) { continuation.yield(state) }

    /// Ends ``run()`` after the states already asked for have been shown.
    public func finish() { continuation.finish() }

    private enum Signal: Sendable {
        case show(IndicatorState)
        case deadline(UInt64)
        case finished
    }

    /// Renders states until ``finish()`` or cancellation; outputs are left off when it returns. Periodic patterns
    /// go once to outputs that play them by themselves (``PatternOutputs``); every other step wakes it.
    public func run() async throws {
        let led = outputs.index(of: .statusLED)
        let buzzer = outputs.index(of: .buzzer)
        let outputs = self.outputs
        let players = outputs as? any PatternOutputs
        let index: @Sendable (OutputRole) -> Int? = { $0 == .statusLED ? led : buzzer }
        var indicator = Indicator { role, pattern in
            guard let players, let index = index(role) else { return false }
            return players.canPlay(pattern, on: index)
        }
        func apply(_ output: Indicator.Output) throws {
            for change in output.changes {
                if let index = index(change.output) { try outputs.set(index, on: change.on) }
            }
            for handoff in output.handoffs {
                if let players, let index = index(handoff.output) { try players.play(handoff.pattern, on: index) }
            }
        }
        let (signals, signal) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .unbounded)
        var timer = DeadlineTimer(clock: clock)
        defer { timer.cancel() }
        let fire: @Sendable (UInt64) -> Void = { signal.yield(.deadline($0)) }
        let requests = self.requests
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await state in requests { signal.yield(.show(state)) }
                signal.yield(.finished)
            }
            loop: for await incoming in signals {
                let output: Indicator.Output
                switch incoming {
                case .show(let state): output = indicator.show(state, at: clock.now)
                case .deadline(let generation):
                    guard timer.fired(generation) else { continue }
                    output = indicator.advance(to: clock.now)
                case .finished: break loop
                }
                try apply(output)
                timer.arm(output.nextDeadline, fire: fire)
            }
            group.cancelAll()
        }
        if let led { try outputs.set(led, on: false) }
        if let buzzer { try outputs.set(buzzer, on: false) }
    }
}
