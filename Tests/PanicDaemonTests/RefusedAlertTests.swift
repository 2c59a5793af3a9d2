import Foundation
import Logging
import NMEA
import PanicConfig
import PanicCore
import PanicDaemon
import PanicHardware
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import Testing

/// A control room that refuses every record for `reason` (what a fork or a wrong registration looks like from the
/// box), answering over the uplink's transport seam.
struct RefusingTransport: UplinkTransport {
    let reason: RejectionReason

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        RecordBatchResponse(
            results: batch.envelopes.map { _ in RecordResult(status: .rejected, reason: reason) }, alerts: [],
            commands: [])
    }

    func shutdown() async throws {}
}

/// A GNSS receiver that never reports (the box runs on system time).
struct SilentGNSS: GNSSFixSource {
    func run(_ deliver: @Sendable ([GNSSFix]) async throws -> Void) async throws {
        let (never, sink) = AsyncStream<Void>.makeStream()
        for await _ in never {}
        sink.finish()
    }
}

@Suite("The LED for an alert the control room refuses", .timeLimit(.minutes(1)))
struct RefusedAlertTests {
    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    @Test(
        "an emergency refused as a fork or a device mismatch shows fault, never SENT, and the health record says so",
        arguments: [RejectionReason.fork, .deviceMismatch, .replay])
    func refusedEmergencyShowsFault(_ reason: RejectionReason) async throws {
        let clock = SystemMonotonicClock()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refused-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let board = try BoardFile.loadValid(path: Self.sim)
        let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let key = DeviceKey.generate()
        let outbox = try Outbox(path: directory + "/outbox.sqlite", sealer: RecordSigner(key: key), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID,
            backends: [.init(name: "cr", url: "http://127.0.0.1:9")], clock: clock,
            transport: { _ in RefusingTransport(reason: reason) }, logger: logger)
        let box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock), gnss: SilentGNSS(),
                outbox: outbox, uplink: uplink, statePath: directory + "/engine-state.json"),
            configuration: .init(), clock: clock, logger: logger)

        let (shown, emergencyID) = try await withThrowingTaskGroup(of: ([IndicatorState], String?)?.self) { group in
            group.addTask {
                try await box.run()
                return nil
            }
            group.addTask {
                let button = try #require(board.inputs.first { $0.role == .emergency })
                // A button already down when the inputs are first read raises nothing: press once they are watched.
                await box.inputService.watching()
                try lines.press(button.name)
                var shown: [IndicatorState] = []
                var stored: String?
                for await event in box.events {
                    if case .stored(let id, .emergency, _) = event { stored = id }
                    if case .indicator(let state) = event {
                        shown.append(state)
                        if stored != nil, state == .fault { return (shown, stored) }
                    }
                }
                return (shown, stored)
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return ([], nil)
        }
        #expect(shown.last == .fault)
        #expect(!shown.contains(.sent), "the LED said SENT for a refused emergency: \(shown)")
        #expect(uplink.alerts.undeliverable.contains(try #require(emergencyID)))
        #expect(try outbox.status().undelivered >= 1)
        #expect(uplink.faults.map(\.description).contains("alert-undeliverable:cr:\(reason.rawValue)"))
    }
}
