import Foundation
import Logging
import PanicCore
import PanicDaemon
import PanicHardware
import PanicStore
import Testing

@Suite("SMS fallback: a tracking server's acknowledgement does not stop the text", .timeLimit(.minutes(1)))
struct SMSAuthorityTests {
    @Test("an emergency only Traccar acknowledged is texted; one the control room acknowledged is not")
    func trackingAcknowledgementDoesNotCount() async throws {
        let box = try SMSFallbackTests.Box()
        defer { try? FileManager.default.removeItem(atPath: box.directory) }
        let outbox = try box.open()
        try outbox.register(backend: "control-room")
        try outbox.register(backend: "traccar")
        let tests = SMSFallbackTests()
        let onlyTracked = try tests.alert(outbox)
        let atTheRoom = try tests.alert(outbox)
        try outbox.markDelivered([onlyTracked, atTheRoom], backend: "traccar")
        try outbox.markDelivered([atTheRoom], backend: "control-room")
        let modem = ScriptedModem()
        let now = tests.now
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let fallback = SMSFallback(
            outbox: outbox, modem: modem,
            configuration: .init(
                numbers: ["+919812345678"], after: .seconds(60), place: "RJ14PB1234", authorities: ["control-room"]),
            clock: ManualClock(), wallClock: { RecordTime(epochMilliseconds: now.withLock { $0 }) }, logger: logger)
        now.withLock { $0 += 61_000 }
        let outcomes = try await fallback.check()
        #expect(outcomes == [.sent(alert: onlyTracked, number: "+919812345678", reference: 1)])
    }
}
