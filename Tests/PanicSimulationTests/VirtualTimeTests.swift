import PanicCore
import Testing

@testable import PanicSimulation

@Suite("Virtual time's settling", .timeLimit(.minutes(1)))
struct VirtualTimeTests {
    @Test("settle ends with CancellationError when its task is cancelled while a part stays busy")
    func settleEndsOnCancellation() async {
        let clock = ManualClock()
        let (ends, end) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        // Told each time settle asks whether a part is busy (always: it would loop for ever).
        let (asked, ask) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let settling = Task {
            do {
                try await VirtualTime.settle(clock: clock) {
                    ask.yield()
                    return true
                }
                end.yield(.success(()))
            } catch {
                end.yield(.failure(error))
            }
        }
        // Cancelled once it is going round its loop (waiting on its asking, not on a count of yields, which a full
        // parallel test run can stretch past any time limit).
        var rounds = asked.makeAsyncIterator()
        for _ in 0..<3 { await rounds.next() }
        settling.cancel()
        let outcome = await Self.first(of: ends, within: .seconds(10))
        guard let outcome else {
            Issue.record("settle went on after its task was cancelled")
            return
        }
        #expect(throws: CancellationError.self, "settle ended, but not by its cancellation") { try outcome.get() }
    }

    /// The first element of `stream`, or nil when none came within `limit`.
    static func first<T: Sendable>(of stream: AsyncStream<T>, within limit: Duration) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
