import PanicCore
import PanicUplink
import Testing

@Suite("Delivery state machine (no I/O)")
struct DeliveryStateMachineTests {
    let t0 = MonotonicInstant.zero

    @Test("at start both lanes look for work, each with one request at a time")
    func start() {
        var machine = DeliveryStateMachine(now: t0, seed: 1)
        #expect(machine.start(now: t0) == [.send(.alert), .send(.backlog)])
        #expect(machine.recordsAppended(urgent: false, now: t0).isEmpty)
    }

    @Test("a fresh alert goes out while a backlog batch is in flight")
    func alertOvertakesBacklog() {
        var machine = DeliveryStateMachine(now: t0, seed: 1)
        _ = machine.start(now: t0)
        #expect(machine.finished(.alert, .empty, now: t0).isEmpty)
        #expect(machine.isInFlight(.backlog))
        #expect(machine.recordsAppended(urgent: true, now: t0) == [.send(.alert)])
    }

    @Test("a failure backs off within the lane's jitter window, and a full batch asks for the next at once")
    func backoffAndFullBatches() {
        var machine = DeliveryStateMachine(now: t0, seed: 7)
        _ = machine.start(now: t0)
        #expect(machine.finished(.backlog, .delivered(claimed: 200, full: true), now: t0) == [.send(.backlog)])
        #expect(machine.finished(.backlog, .failed, now: t0).isEmpty)
        let deadline = machine.nextDeadline
        #expect(deadline != nil)
        #expect(deadline! <= t0.advanced(by: BackoffPolicy.routine.window(afterFailures: 1)))
        #expect(machine.tick(now: deadline!) == [.send(.backlog)])
    }

    @Test("the alert lane's backoff is capped at 5 s however long the outage")
    func alertCap() {
        var machine = DeliveryStateMachine(now: t0, seed: 3)
        _ = machine.start(now: t0)
        var now = t0
        for _ in 0..<50 {
            _ = machine.finished(.alert, .failed, now: now)
            let deadline = machine.nextDeadline!
            #expect(now.duration(to: deadline) <= .seconds(5))
            now = deadline
            _ = machine.tick(now: now)
        }
        #expect(machine.failures(.alert) == 50)
    }

    @Test("a new alert skips the alert lane's backoff wait")
    func newAlertSkipsBackoff() {
        var machine = DeliveryStateMachine(now: t0, seed: 1)
        _ = machine.start(now: t0)
        _ = machine.finished(.alert, .failed, now: t0)
        #expect(machine.recordsAppended(urgent: true, now: t0) == [.send(.alert)])
    }

    @Test("success on one lane ends the other lane's backoff: the link is back")
    func successResetsOtherLane() {
        var machine = DeliveryStateMachine(now: t0, seed: 1)
        _ = machine.start(now: t0)
        _ = machine.finished(.backlog, .failed, now: t0)
        _ = machine.finished(.alert, .failed, now: t0)
        let retry = machine.nextDeadline!
        #expect(machine.tick(now: retry).contains(.send(.alert)))
        #expect(machine.finished(.alert, .delivered(claimed: 1, full: false), now: retry) == [.send(.backlog)])
    }

    @Test("while an alert is open and nothing else goes, the alert lane polls every poll interval")
    func polling() {
        var machine = DeliveryStateMachine(now: t0, pollInterval: .seconds(5), seed: 1)
        _ = machine.start(now: t0)
        _ = machine.finished(.alert, .empty, now: t0)
        _ = machine.finished(.backlog, .empty, now: t0)
        #expect(machine.setPollNeeded(true, now: t0).isEmpty)
        #expect(machine.nextDeadline == t0.advanced(by: .seconds(5)))
        #expect(machine.tick(now: t0.advanced(by: .seconds(5))) == [.poll])
        _ = machine.finished(.alert, .delivered(claimed: 0, full: false), now: t0.advanced(by: .seconds(5)))
        #expect(machine.setPollNeeded(false, now: t0.advanced(by: .seconds(5))).isEmpty)
        #expect(machine.nextDeadline == nil)
    }

    @Test("while the alert lane retries undelivered alerts the backlog waits, and its timer sends the alerts instead")
    func alertsFirstAfterOutage() {
        var machine = DeliveryStateMachine(now: t0, seed: 11)
        _ = machine.start(now: t0)
        _ = machine.finished(.backlog, .failed, now: t0)
        _ = machine.finished(.alert, .failed, now: t0)
        // Whichever timer comes up first, only the alert lane goes.
        let first = machine.nextDeadline!
        #expect(machine.tick(now: first) == [.send(.alert)])
        #expect(machine.finished(.alert, .failed, now: first).isEmpty)
        let second = machine.nextDeadline!
        #expect(machine.tick(now: second) == [.send(.alert)])
        // The alerts get through: now the backlog goes.
        #expect(machine.finished(.alert, .delivered(claimed: 1, full: false), now: second) == [.send(.backlog)])
    }
}
