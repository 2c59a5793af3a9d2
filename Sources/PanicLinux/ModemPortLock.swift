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
        var waiters: [CheckedContinuation<Void, Never>] = []
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

    /// Runs `body` while holding the port: waits for the holder before it (in order), releases when `body` ends.
    /// A task cancelled while it waited gets `CancellationError` once its turn comes, without touching the port.
    public func withPort<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        try Task.checkCancellation()
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.held {
                    state.waiters.append(continuation)
                    return false
                }
                state.held = true
                return true
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
