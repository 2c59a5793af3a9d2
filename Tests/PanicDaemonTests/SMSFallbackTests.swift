import Foundation
import Logging
import PanicCore
import PanicDaemon
import PanicHardware
import PanicSigning
import PanicStore
import Synchronization
import Testing

/// A modem that records what it is asked to send and fails as told.
final class ScriptedModem: SMSModem {
    let sent = Mutex<[String]>([])
    let failure = Mutex<SMSModemError?>(nil)

    func send(_ text: String, to number: String) async throws(SMSModemError) -> Int {
        if let failure = failure.withLock({ $0 }) { throw failure }
        return sent.withLock {
            $0.append(number)
            return $0.count
        }
    }
}

@Suite("SMS fallback: alerts no data backend acknowledged, texted at most once per number", .timeLimit(.minutes(1)))
struct SMSFallbackTests {
    static let numbers = ["+919812345678", "+919812345679"]
    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    struct Box {
        let directory: String
        let key = DeviceKey.generate()
        var path: String { directory + "/outbox.sqlite" }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("sms-\(UUID())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        func open() throws -> Outbox {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            return try Outbox(path: path, sealer: RecordSigner(key: key), logger: logger)
        }
    }

    static let start: Int64 = 1_764_000_000_000
    let now = Now()
    let clock = ManualClock()

    /// The wall clock the fallback reads, moved by the test.
    final class Now: Sendable {
        let value = Mutex<Int64>(SMSFallbackTests.start)
        func withLock<T: Sendable>(_ body: (inout Int64) -> T) -> T { value.withLock { body(&$0) } }
    }

    func fallback(_ outbox: Outbox, _ modem: any SMSModem) -> SMSFallback {
        let now = self.now
        return SMSFallback(
            outbox: outbox, modem: modem,
            configuration: .init(numbers: Self.numbers, after: .seconds(60), place: "RJ14PB1234"),
            clock: clock, wallClock: { RecordTime(epochMilliseconds: now.withLock { $0 }) }, logger: logger)
    }

    func alert(_ outbox: Outbox, _ body: RecordBody = .emergency(input: "panic-1")) throws -> Int64 {
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: now.withLock { $0 }),
            timeSource: .gnss, fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 900), body: body)
        guard case .stored(let record) = try outbox.append(draft) else { throw CancellationError() }
        return record.sequence
    }

    @Test("an alert unacknowledged after the wait goes to every number once; an acknowledged one never")
    func onceEach() async throws {
        let box = try Box()
        let outbox = try box.open()
        try outbox.register(backend: "cr")
        let modem = ScriptedModem()
        let fallback = fallback(outbox, modem)
        let pressed = try alert(outbox)
        let acknowledged = try alert(outbox, .tamper(reason: .wireCut, input: "panic-1"))
        try outbox.markDelivered([acknowledged], backend: "cr")
        #expect(try await fallback.check().isEmpty)  // not yet a minute old
        now.withLock { $0 += 61_000 }
        let outcomes = try await fallback.check()
        #expect(
            outcomes == [
                .sent(alert: pressed, number: Self.numbers[0], reference: 1),
                .sent(alert: pressed, number: Self.numbers[1], reference: 2),
            ])
        #expect(try await fallback.check().isEmpty)
        #expect(modem.sent.withLock { $0 } == Self.numbers)
        #expect(try outbox.smsState(alert: pressed, number: Self.numbers[0]) == .sent)
    }

    @Test("a modem error before the text is taken is retried; after the text is handed over it is not")
    func failures() async throws {
        let box = try Box()
        let outbox = try box.open()
        let modem = ScriptedModem()
        let fallback = fallback(outbox, modem)
        let pressed = try alert(outbox)
        now.withLock { $0 += 61_000 }
        modem.failure.withLock { $0 = SMSModemError(reason: "AT+CMGF=1: ERROR", textHandedOver: false) }
        let failed = try await fallback.check()
        #expect(failed.count == 2 && failed.allSatisfy { if case .failed = $0 { true } else { false } })
        #expect(try outbox.smsState(alert: pressed, number: Self.numbers[0]) == .failed)
        // Tried again once its wait (10 s after the first refusal) is over.
        clock.advance(by: .seconds(10))
        modem.failure.withLock { $0 = SMSModemError(reason: "no answer within 30 s", textHandedOver: true) }
        let uncertain = try await fallback.check()
        #expect(uncertain.count == 2 && uncertain.allSatisfy { if case .uncertain = $0 { true } else { false } })
        modem.failure.withLock { $0 = nil }
        #expect(try await fallback.check().isEmpty)
        #expect(modem.sent.withLock { $0 }.isEmpty)
    }

    @Test("a power cut between AT+CMGS and +CMGS: after the restart the message is not sent again, the rest are")
    func powerCut() async throws {
        let box = try Box()
        var outbox: Outbox? = try box.open()
        let pressed = try alert(outbox!)
        now.withLock { $0 += 61_000 }
        // The box died with the first number's text handed over and no answer yet: `attempting` is all that is left.
        try outbox!.recordSMS(
            .attempting, alert: pressed, number: Self.numbers[0], at: RecordTime(epochMilliseconds: 0))
        outbox = nil
        let reopened = try box.open()
        let modem = ScriptedModem()
        let outcomes = try await fallback(reopened, modem).check()
        #expect(outcomes == [.sent(alert: pressed, number: Self.numbers[1], reference: 1)])
        #expect(try reopened.smsState(alert: pressed, number: Self.numbers[0]) == .attempting)
    }
}
