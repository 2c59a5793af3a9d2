import Foundation
import Logging
import PanicCore
import PanicDaemon
import PanicHardware
import PanicSigning
import PanicStore
import ServiceLifecycle
import Synchronization
import Testing

/// A modem that takes a send and never answers until its task is cancelled; reports each send it starts.
final class HangingModem: SMSModem {
    let started: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() { (started, continuation) = AsyncStream.makeStream() }

    func send(_ text: String, to number: String) async throws(SMSModemError) -> Int {
        continuation.yield(number)
        do {
            try await Task.sleep(for: .seconds(3600))
        } catch {
            throw SMSModemError(reason: "cancelled", textHandedOver: false)
        }
        throw SMSModemError(reason: "an hour without an answer", textHandedOver: true)
    }
}

@Suite("SMS fallback under the service group: graceful shutdown ends it", .timeLimit(.minutes(1)))
struct SMSShutdownTests {
    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    func outbox() throws -> (Outbox, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sms-stop-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let outbox = try Outbox(
            path: directory + "/outbox.sqlite", sealer: RecordSigner(key: DeviceKey.generate()), logger: logger)
        return (outbox, directory)
    }

    @Test("idle between checks: graceful shutdown ends the service")
    func idle() async throws {
        let (outbox, directory) = try outbox()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let fallback = SMSFallback(
            outbox: outbox, modem: HangingModem(),
            configuration: .init(numbers: ["+919812345678"], place: "RJ14PB1234"), clock: clock,
            wallClock: { RecordTime(epochMilliseconds: 1_764_000_000_000) }, logger: logger)
        let group = ServiceGroup(services: [fallback], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Whether it is still in its first check or already asleep on the clock, it must end.
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
    }

    @Test("a text in its dialogue is abandoned (left to be sent again) and the service ends")
    func midDialogue() async throws {
        let (outbox, directory) = try outbox()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: 1_764_000_000_000),
            timeSource: .gnss, fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 900),
            body: .emergency(input: "panic-1"))
        guard case .stored(let record) = try outbox.append(draft) else { throw CancellationError() }
        let modem = HangingModem()
        let fallback = SMSFallback(
            outbox: outbox, modem: modem,
            configuration: .init(numbers: ["+919812345678", "+919812345679"], after: .seconds(60), place: "RJ14"),
            clock: ManualClock(), wallClock: { RecordTime(epochMilliseconds: 1_764_000_100_000) }, logger: logger)
        let group = ServiceGroup(services: [fallback], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var started = modem.started.makeAsyncIterator()
            #expect(await started.next() == "+919812345678")
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
        #expect(try outbox.smsState(alert: record.sequence, number: "+919812345678") == .failed)
        // The second number was never started: nothing recorded, texted after the restart.
        #expect(try outbox.smsState(alert: record.sequence, number: "+919812345679") == nil)
    }
}
