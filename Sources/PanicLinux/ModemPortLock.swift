import Synchronization

/// The one owner of a modem's AT port: the SMS dialogue (`GSMModem`) and the radio monitor (`ATRadioMonitor`) both
/// open the same serial device, and two conversations on one port would corrupt each other (an `OK` taken for the
/// other's answer, an `AT+CSQ` typed into an emergency text). Each holds the port through ``withPort(_:)``, one at a
/// time in arrival order. The monitor's reading has a short deadline (`ATRadioMonitor.timeout`), so an SMS waits at
/// most one short read.
///
/// One lock per device path, process-wide (``forPath(_:)``), so the daemon's parts share it without plumbing.
public final class ModemPortLock: Sendable {
    private struct State {
        var held = false
        /// Tasks waiting for the port, in arrival order, each under the ticket its cancellation finds it by.
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextTicket: UInt64 = 0
    }
    private let state = Mutex(State())
    private static let registry = Mutex<[String: ModemPortLock]>([:])

    public init() {}

    /// The lock of the modem at `path`.
    public static func forPath(_ path: String) -> ModemPortLock {
        registry.withLock { locks in
            if let lock = locks[path] { return lock }
            let lock = ModemPortLock()
            locks[path] = lock
            return lock
        }
    }

    /// Whether someone holds the port now (for tests).
    public var isHeld: Bool { state.withLock { $0.held } }

    /// How many tasks wait for the port now (for tests).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Runs `body` while holding the port: waits for the holder before it (in order), releases when `body` ends.
    /// A task cancelled while it waits leaves the queue at once and gets `CancellationError` without touching the
    /// port (a dialogue whose deadline passed behind a stuck holder ends at its deadline); one cancelled just as its
    /// turn came gets it too, and passes the port on.
    public func withPort<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        try Task.checkCancellation()
        return try await body()
    }

    /// Waits for the port and takes it; throws `CancellationError`, not holding it, when the task is cancelled
    /// before its turn. Each waiter is resumed exactly once, by whichever of `release()` and the cancellation
    /// handler takes it out of the queue (under the mutex), so the port is never handed to a task that left.
    private func acquire() async throws {
        let ticket = state.withLock { state in
            defer { state.nextTicket &+= 1 }
            return state.nextTicket
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // A task cancelled before it queued (the handler then ran already and found nothing) never queues.
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.held {
                        state.waiters.append((ticket, continuation))
                        return nil
                    }
                    state.held = true
                    return .success(())
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.waiters.isEmpty else {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
