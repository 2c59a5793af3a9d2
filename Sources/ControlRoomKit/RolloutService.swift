import Foundation
import Logging
import PanicCore
import ServiceLifecycle

/// Drives the staged rollouts (docs/configuration.md → *Staged rollouts*) under `controlroom serve`'s service
/// group: a step (`ControlRoom.advanceRollouts`) whenever the desk's change signal moves (a batch arrived on this
/// instance, or, on PostgreSQL, an audit line was written on any instance: a rollout created, resumed, aborted)
/// and when the earliest device deadline (`--wait`) passes on the injected clock. Never polls: with nothing
/// running and nothing arriving it waits on the signal alone. A step that changed something is published on the
/// control room's change stream, which moves the signal.
public final class RolloutService: Service, Sendable {
    let room: ControlRoom
    let signal: DeskSignal
    let clock: any Clock<Duration>
    /// The least time between two steps, so a fleet's steady stream of batches costs at most one step per interval.
    let interval: Duration
    let logger: Logger

    public init(
        room: ControlRoom, signal: DeskSignal, clock: any Clock<Duration> = ContinuousClock(),
        interval: Duration = .seconds(1), logger: Logger
    ) {
        self.room = room
        self.signal = signal
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.loop() }
    }

    /// Until cancelled or the signal closes.
    public func loop() async throws {
        while !Task.isCancelled {
            let version = signal.version
            var nextMs: Int64?
            do {
                let step = try await room.advanceRollouts()
                nextMs = step.nextDeadlineMs
                // A step that wrote something went out on the control room's change stream (`ControlRoom.changes`).
            } catch {
                logger.error("rollouts: \(error)")
                nextMs = room.wallClock().epochMilliseconds + 5000
            }
            if interval > .zero { try? await clock.sleep(for: interval) }
            if await signal.waitForChange(after: version, orUntil: nextMs, wall: room.wallClock, on: clock) { return }
        }
    }
}
