/// Exponential backoff with full jitter and a cap: after the n-th consecutive failure the next attempt waits a
/// uniformly random time in `0 … min(cap, base · 2ⁿ⁻¹)`. Full jitter keeps a fleet of boxes that lost the same
/// cell tower from reconnecting in lockstep.
public struct BackoffPolicy: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        precondition(base > .zero && cap >= base, "backoff needs 0 < base ≤ cap")
        self.base = base
        self.cap = cap
    }

    /// Alerts (emergency, tamper, help): retried quickly; a person is waiting for the "sent" indication.
    public static let alert = BackoffPolicy(base: .milliseconds(250), cap: .seconds(5))
    /// Positions and health records: no hurry, spare the battery and the data plan.
    public static let routine = BackoffPolicy(base: .seconds(1), cap: .seconds(300))

    /// The ceiling of the jitter window after `failures` consecutive failures (1 for the first).
    public func window(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        let exponent = min(failures - 1, 40)
        // Doubling a Duration 40 times overflows nothing before it passes any sensible cap; stop once it does.
        var window = base
        for _ in 0..<exponent where window < cap { window = window * 2 }
        return min(window, cap)
    }

    /// A random delay in the window after `failures` consecutive failures.
    public func delay(afterFailures failures: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let window = window(afterFailures: failures)
        guard window > .zero else { return .zero }
        let nanoseconds = window.nanosecondsClamped
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : sum
    }
}

/// A small seeded generator (SplitMix64) so backoff jitter is reproducible in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
