import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// Checks passwords against bcrypt hashes on a thread of its own (bcrypt at cost 12 takes about a quarter of a
/// second of CPU): never on the executor that runs request handlers, so a box's records never wait behind a login.
/// `LoginBudget` bounds how many wait for it. Counts the checks it ran (what the tests and `/metrics` read).
public final class PasswordHasher: Sendable {
    /// One thread, started on first use and kept for the process, a little below the request handlers' priority
    /// (nice 5: on Linux the nice value is the thread's own): when a login flood and the intake want the CPU at once,
    /// the intake's threads get about three quarters of it, and the logins wait (their number is bounded by
    /// `LoginBudget.Limits.inFlight`). Not lower: at nice 19 a busy host (a surge of boxes, PostgreSQL beside the
    /// control room, a build) left this thread well under 1 % of a core, so one bcrypt (~0.25 s of CPU) took a
    /// minute and an operator could not log in exactly when the desk was needed (seen as a test's five guesses at
    /// an unknown name, each a cost-12 decoy check, passing the test's 20 s deadline while the machine built).
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        pool.submit { _ in
            #if canImport(Glibc)
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
            #endif
        }
        return pool
    }()

    private struct Counts {
        var checks = 0
        var waiting = 0
        var peak = 0
    }
    private let counts = Mutex(Counts())

    public init() {}

    /// How many passwords this hasher has checked.
    public var checks: Int { counts.withLock { $0.checks } }

    /// The most checks that were ever queued or running at once (bounded by `LoginBudget.Limits.inFlight`).
    public var peakWaiting: Int { counts.withLock { $0.peak } }

    /// Whether `password` matches the bcrypt `hash`, checked on the hashing thread (`hash` is evaluated there too:
    /// the decoy hash for unknown names is itself a bcrypt run the first time).
    public func verify(_ password: String, hash: @autoclosure @escaping @Sendable () -> String) async throws -> Bool {
        counts.withLock {
            $0.checks += 1
            $0.waiting += 1
            $0.peak = max($0.peak, $0.waiting)
        }
        defer { counts.withLock { $0.waiting -= 1 } }
        return try await Self.pool.runIfActive { Bcrypt.verify(password, hash: hash()) }
    }
}
