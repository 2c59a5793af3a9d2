import PanicCore
import Testing

@testable import PanicDaemon

/// The daemon's loop on the real monotonic clock: short real sleeps, measured against the clock itself.
@Suite("The daemon loop and its clock", .timeLimit(.minutes(1)))
struct DaemonLoopTests {
    @Test("a sleep with slack rides on the loop's next wake after its deadline instead of its own timer")
    func slackRidesOnAnotherWake() async throws {
        let loop = DaemonLoop()
        let clock = loop.clock
        let (woken, start) = try await loop.run {
            let start = clock.now
            return try await withThrowingTaskGroup(of: (String, Duration).self) { group in
                // Due at 50 ms, but may wait up to 2 s for a wake the loop has anyway.
                group.addTask {
                    try await clock.sleep(until: start.advanced(by: .milliseconds(50)), tolerance: .seconds(2))
                    return ("slack", start.duration(to: clock.now))
                }
                // The loop's other wake: at 300 ms.
                group.addTask {
                    try await clock.sleep(until: start.advanced(by: .milliseconds(300)), tolerance: nil)
                    return ("timer", start.duration(to: clock.now))
                }
                var woken: [String: Duration] = [:]
                for try await (name, at) in group { woken[name] = at }
                return (woken, start)
            }
        }
        _ = start
        let slack = try #require(woken["slack"])
        let timer = try #require(woken["timer"])
        #expect(slack >= .milliseconds(300), "not woken at its deadline alone")
        #expect(slack < .milliseconds(1_500), "woken with the 300 ms timer, not by its own fallback at 2.05 s")
        #expect(timer >= .milliseconds(300))
        try await loop.shutdown()
    }

    @Test("with nothing else waking the loop, a sleep with slack ends at deadline + tolerance")
    func slackFallsBackToItsOwnTimer() async throws {
        let loop = DaemonLoop()
        let clock = loop.clock
        let took = try await loop.run {
            let start = clock.now
            try await clock.sleep(until: start.advanced(by: .milliseconds(20)), tolerance: .milliseconds(200))
            return start.duration(to: clock.now)
        }
        #expect(took >= .milliseconds(220))
        try await loop.shutdown()
    }

    @Test("a small tolerance is ignored, and a cancelled slack sleep ends at once")
    func smallToleranceAndCancellation() async throws {
        let loop = DaemonLoop()
        let clock = loop.clock
        let took = try await loop.run {
            let start = clock.now
            try await clock.sleep(until: start.advanced(by: .milliseconds(30)), tolerance: .milliseconds(50))
            return start.duration(to: clock.now)
        }
        #expect(took >= .milliseconds(30) && took < .milliseconds(30) + LoopClock.slackThreshold * 5)
        let cancelled = try await loop.run {
            let start = clock.now
            let sleeper = Task(executorPreference: loop) {
                try await clock.sleep(until: start.advanced(by: .seconds(30)), tolerance: .seconds(30))
            }
            sleeper.cancel()
            let result = await sleeper.result
            return (start.duration(to: clock.now), result)
        }
        #expect(cancelled.0 < .seconds(5))
        #expect(throws: CancellationError.self) { try cancelled.1.get() }
        try await loop.shutdown()
    }
}
