import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM and SIGINT for `panicd run`, taken without libdispatch.
///
/// ServiceLifecycle's signal handling registers dispatch sources from a dispatch queue; the first dispatch worker
/// thread starts libdispatch's worker-pool monitor, a 1 s timer on its manager queue that never stops
/// (`_dispatch_workq_init_once` in swift-corelibs-libdispatch `src/event/workqueue.c`): one wakeup a second for
/// the daemon's whole life. Here the signals are blocked in every thread instead (the mask is inherited, so
/// ``init()`` must run before the process starts any thread) and one thread waits in `sigwait`, asleep until a
/// signal comes.
public final class ShutdownSignals: Sendable {
    /// The signals that stop the daemon gracefully.
    public static let handled: [Int32] = [SIGTERM, SIGINT]

    /// Blocks ``handled`` in the calling thread and so in every thread it starts from now on.
    public init() {
        var set = Self.signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }

    /// The next signal, waited for on a thread of its own; nil when cancelled first. (A cancelled wait leaves its
    /// thread asleep in `sigwait` until the process exits: one idle thread, no wakeups.)
    public func next() async -> Int32? {
        let waiter = Mutex<(continuation: CheckedContinuation<Int32?, Never>?, cancelled: Bool)>((nil, false))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let cancelled = waiter.withLock { state -> Bool in
                    state.continuation = continuation
                    return state.cancelled
                }
                if cancelled {
                    waiter.withLock { $0.continuation.take() }?.resume(returning: nil)
                    return
                }
                let thread = Thread {
                    Thread.current.name = "panicd-signals"
                    var set = Self.signalSet()
                    var signal: Int32 = 0
                    while sigwait(&set, &signal) != 0 {}
                    waiter.withLock { $0.continuation.take() }?.resume(returning: signal)
                }
                thread.start()
            }
        } onCancel: {
            waiter.withLock { state in
                state.cancelled = true
                return state.continuation.take()
            }?.resume(returning: nil)
        }
    }
}

/// Ends the service group gracefully on SIGTERM or SIGINT (configured with `.gracefullyShutdownGroup`); returns
/// at graceful shutdown too, so it never holds the group up.
struct ShutdownSignalService: Service {
    let signals: ShutdownSignals
    let logger: Logger

    func run() async throws {
        let signal = await cancelWhenGracefulShutdown { await signals.next() }
        if let signal {
            logger.info("shutting down", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
        }
    }
}
