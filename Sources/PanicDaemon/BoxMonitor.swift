import Foundation
import Logging
import PanicCore
import ServiceLifecycle

/// Decides whether the systemd watchdog may be fed: only while the box's event loop, its outbox and its uplink
/// make progress. A plain timer would keep a wedged box alive forever. Pure: the monitor passes in what it saw.
struct WatchdogGate: Sendable, Equatable {
    /// What one look at the box found.
    struct Observation: Sendable, Equatable {
        /// The outbox answered a read (its lock is free and SQLite works).
        var outboxResponds: Bool
        /// The box has work in hand (posted and not yet done, or a request in flight).
        var boxBusy: Bool
        /// Some backend has a request in flight.
        var uplinkBusy: Bool
        /// Box events taken in since start.
        var events: Int
        /// How long since the uplink last reported anything (a delivery, a failure, going idle).
        var uplinkSilence: Duration
    }

    enum Verdict: Sendable, Equatable {
        case feed
        case withhold(reason: String)
    }

    /// A request may take this long before the uplink counts as stuck (twice the longest timeout and more).
    let uplinkLimit: Duration
    /// Consecutive looks that found the event loop busy with no event taken in.
    private(set) var loopStalls = 0
    private var lastEvents: Int?

    init(uplinkLimit: Duration) { self.uplinkLimit = uplinkLimit }

    mutating func observe(_ look: Observation) -> Verdict {
        defer { lastEvents = look.events }
        guard look.outboxResponds else { return .withhold(reason: "the outbox does not answer") }
        // Work in hand that is not the uplink's, and nothing came out since the last look: the loop may be stuck.
        // Two looks in a row, so work that merely happened to be in hand at one look does not count.
        if look.boxBusy, !look.uplinkBusy, look.events == lastEvents {
            loopStalls += 1
        } else {
            loopStalls = 0
        }
        if loopStalls >= 2 { return .withhold(reason: "the event loop has work in hand and makes no progress") }
        if look.uplinkBusy, look.uplinkSilence > uplinkLimit {
            return .withhold(reason: "a request has been in flight for \(look.uplinkSilence.milliseconds / 1000) s")
        }
        return .feed
    }
}

/// Watches the running box every few seconds: feeds systemd's watchdog while the box makes progress
/// (`WatchdogGate`), rewrites `STATUS=` when the summary changes, logs the state changes a technician needs
/// (fix acquired or lost, a backlog draining), and refreshes the status watchers. It sends `STOPPING=1` when
/// graceful shutdown begins. Idle, it wakes once per period and nothing else.
struct BoxMonitor: Service {
    let board: StatusBoard
    let notifier: SystemdNotifier
    let clock: any MonotonicClock
    let logger: Logger
    let uplinkLimit: Duration

    /// Records waiting for one backend before the log speaks of a backlog.
    static let backlogThreshold = 10

    var period: Duration {
        let cap = Duration.seconds(5)
        guard let interval = notifier.watchdogInterval else { return cap }
        return min(cap, interval / 3)
    }

    func run() async throws {
        var gate = WatchdogGate(uplinkLimit: uplinkLimit)
        var log = ChangeLog()
        var lastSummary: String?
        var next = clock.now
        while !Task.isShuttingDownGracefully {
            let status = board.snapshot()
            log.note(status, at: clock.now, logger: logger)
            if status.summary != lastSummary {
                do { try notifier.status(status.summary) } catch {
                    logger.warning("cannot tell systemd the status", metadata: ["error": "\(error)"])
                }
                lastSummary = status.summary
            }
            feedWatchdog(&gate, status: status)
            board.refresh()
            next = next.advanced(by: period)
            let deadline = next
            guard await Self.sleep(until: deadline, clock: clock) else { break }
        }
        try? notifier.stopping()
    }

    /// Sleeps until `deadline`; false when graceful shutdown or cancellation ended the sleep first.
    ///
    /// Not `cancelWhenGracefulShutdown`: each time the sleep wins, it cancels its shutdown waiter, which finishes
    /// in an unstructured task on the global executor — starting libdispatch's worker threads and with them its
    /// pool monitor, which then wakes the process every second for good. The sleep here runs on the clock's executor.
    static func sleep(until deadline: MonotonicInstant, clock: any MonotonicClock) async -> Bool {
        // A second of slack: on the daemon's loop the look rides on a wake the loop has anyway (the GNSS epoch).
        let sleeper = Task(executorPreference: clock.preferredExecutor) {
            try await clock.sleep(until: deadline, tolerance: .seconds(1))
        }
        return await withTaskCancellationOrGracefulShutdownHandler {
            (try? await sleeper.value) != nil
        } onCancelOrGracefulShutdown: {
            sleeper.cancel()
        }
    }

    func feedWatchdog(_ gate: inout WatchdogGate, status: BoxStatus) {
        guard notifier.watchdogInterval != nil else { return }
        let box = board.box
        let outboxResponds = (try? box.parts.outbox.status()) != nil
        let silence = board.lastUplinkEvent.map { $0.duration(to: clock.now) } ?? board.started.duration(to: clock.now)
        let verdict = gate.observe(
            .init(
                outboxResponds: outboxResponds, boxBusy: box.isBusy, uplinkBusy: box.parts.uplink.isBusy,
                events: board.eventsTaken, uplinkSilence: silence))
        switch verdict {
        case .feed:
            do { try notifier.watchdog() } catch {
                logger.warning("watchdog keep-alive failed", metadata: ["error": "\(error)"])
            }
        case .withhold(let reason):
            logger.error("not feeding the systemd watchdog: \(reason)")
        }
    }

    /// The changes worth a line at info: fix acquired or lost, and each backend's backlog growing and draining.
    struct ChangeLog {
        var fixCurrent: Bool?
        var backlogs: [String: Backlog] = [:]

        struct Backlog {
            var peak: Int
            var lastLogged: Int
            var since: MonotonicInstant
            var loggedAt: MonotonicInstant
        }

        mutating func note(_ status: BoxStatus, at now: MonotonicInstant, logger: Logger) {
            if status.fix.current != fixCurrent {
                if status.fix.current {
                    logger.info("GNSS fix acquired", metadata: ["satellites": "\(status.fix.satellites ?? 0)"])
                } else if fixCurrent != nil {
                    logger.warning("GNSS fix lost", metadata: ["chunks": "\(status.fix.chunksDecoded)"])
                }
                fixCurrent = status.fix.current
            }
            for backend in status.backends {
                let queued = backend.queued
                guard var backlog = backlogs[backend.name] else {
                    if queued >= BoxMonitor.backlogThreshold {
                        logger.info("backlog for \(backend.name): \(queued) records waiting")
                        backlogs[backend.name] = Backlog(peak: queued, lastLogged: queued, since: now, loggedAt: now)
                    }
                    continue
                }
                backlog.peak = max(backlog.peak, queued)
                if queued == 0 {
                    let seconds = backlog.since.duration(to: now).milliseconds / 1000
                    logger.info("backlog for \(backend.name) drained: \(backlog.peak) → 0 in \(seconds) s")
                    backlogs[backend.name] = nil
                    continue
                }
                // A line every ten seconds at most while it drains, only when it moved.
                if queued != backlog.lastLogged, backlog.loggedAt.duration(to: now) >= .seconds(10) {
                    let verb = queued < backlog.lastLogged ? "draining" : "growing"
                    logger.info("backlog for \(backend.name) \(verb): \(backlog.lastLogged) → \(queued)")
                    backlog.lastLogged = queued
                    backlog.loggedAt = now
                }
                backlogs[backend.name] = backlog
            }
        }
    }
}
