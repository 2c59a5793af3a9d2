import PanicCore
import Testing

@Suite("Backoff with full jitter")
struct BackoffTests {
    let policy = BackoffPolicy(base: .milliseconds(100), cap: .seconds(2))

    @Test("the window doubles per failure up to the cap")
    func windowGrowth() {
        #expect(policy.window(afterFailures: 0) == .zero)
        #expect(policy.window(afterFailures: 1) == .milliseconds(100))
        #expect(policy.window(afterFailures: 2) == .milliseconds(200))
        #expect(policy.window(afterFailures: 5) == .milliseconds(1600))
        #expect(policy.window(afterFailures: 6) == .seconds(2))
        #expect(policy.window(afterFailures: 10_000) == .seconds(2))
    }

    @Test("delays stay inside the window and spread across it")
    func delaysAreJittered() {
        var generator = SplitMix64(seed: 42)
        let delays = (0..<2000).map { _ in policy.delay(afterFailures: 4, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(800) })
        // Full jitter: both halves of the window are used, not a fixed delay.
        #expect(delays.filter { $0 < .milliseconds(400) }.count > 800)
        #expect(delays.filter { $0 >= .milliseconds(400) }.count > 800)
    }

    @Test("alerts retry faster than routine records")
    func alertIsFaster() {
        #expect(BackoffPolicy.alert.cap < BackoffPolicy.routine.cap)
        #expect(BackoffPolicy.alert.window(afterFailures: 3) < BackoffPolicy.routine.window(afterFailures: 3))
    }
}
