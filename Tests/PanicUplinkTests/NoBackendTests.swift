import Foundation
import PanicCore
import PanicUplink
import Testing

@Suite("An uplink without backends", .timeLimit(.minutes(1)))
struct NoBackendTests {
    @Test("stays up until cancelled: a press is still STORED, and the alert stream ends only at the stop")
    func staysUp() async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let clock = ManualClock()
        let uplink = try Uplink(
            outbox: device.outbox, deviceID: device.id, backends: [], clock: clock, wallClock: wallClock(for: clock),
            logger: quietLogger)
        var transitions = uplink.alerts.transitions.makeAsyncIterator()
        try await withUplink(uplink) {
            // Let the uplink's task run first: before, it finished at once and closed the alert stream.
            for _ in 0..<100 { await Task.yield() }
            let press = emergency(at: wallClock(for: clock)())
            try uplink.submit(press)
            let stored = await transitions.next()
            #expect(stored?.alert == press.id)
            #expect(stored?.to == .stored)
            #expect(uplink.alerts.state(of: press.id) == .stored)
        }
        #expect(await transitions.next() == nil, "the alert stream ends when the uplink stops")
        #expect(try device.outbox.status().undelivered == 1)
    }
}
