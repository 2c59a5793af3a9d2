import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicHardware
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// A radio monitor that reports what the test sets, and counts its readings.
final class ScriptedRadio: RadioMonitor {
    let value: Mutex<Result<Telemetry.Radio, TelemetryReadError>>
    init(_ radio: Telemetry.Radio) { value = Mutex(.success(radio)) }
    func readRadio() async throws(TelemetryReadError) -> Telemetry.Radio { try value.withLock { $0 }.get() }
}

@Suite("Records carry the latest telemetry", .timeLimit(.minutes(1)))
struct TelemetryRecordsTests {
    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    static let radio = Telemetry.Radio(
        signal: 19, operatorName: "IND airtel", mcc: 404, mnc: 45, serving: .init(lac: 0x1A2B, cellID: 0x0C0FFE))

    /// Runs a box with `radio` and the simulated supply until `body` returns; the records it stored.
    func run(
        radio: ScriptedRadio, ignition: Bool,
        _ body: @escaping @Sendable (PanicBox, SimulatedInputLines) async throws -> Void
    ) async throws -> [Record] {
        let clock = SystemMonotonicClock()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("telemetry-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let board = try BoardFile.loadValid(path: Self.sim)
        let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let ignitionLine = try lines.index(of: .ignition)
        lines.setAsserted(ignitionLine, ignition)
        let key = DeviceKey.generate()
        let outbox = try Outbox(path: directory + "/outbox.sqlite", sealer: RecordSigner(key: key), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID, backends: [], clock: clock, logger: logger)
        let box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock), gnss: SilentGNSS(),
                outbox: outbox, uplink: uplink, statePath: directory + "/engine-state.json", radio: radio,
                supply: SimulatedSupply(lines: lines, clock: clock, batteryPercent: 77)),
            // Health records every second, so one made after the first reading comes while the test waits.
            configuration: .init(healthInterval: .seconds(1)), clock: clock, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await box.run() }
            try await body(box, lines)
            group.cancelAll()
        }
        return try outbox.records().map { stored in
            try #require(stored.decodedRecord())
        }
    }

    /// Waits until the box stored a record of `kind`.
    static func stored(_ kind: RecordKind, by box: PanicBox) async {
        for await event in box.events {
            if case .stored(_, let stored, _) = event, stored == kind { return }
        }
    }

    @Test("an emergency and the health record carry the modem's radio, the supply and the ignition input")
    func alertAndHealthCarryReadings() async throws {
        let records = try await run(radio: ScriptedRadio(Self.radio), ignition: true) { box, lines in
            await box.telemetry.completed(1)
            await box.inputService.watching()
            try lines.press("driver-emergency")
            await Self.stored(.emergency, by: box)
            // The enclosure opened and closed (a tamper, then its restored record), then the next health record.
            try lines.openEnclosure()
            await Self.stored(.tamper, by: box)
            try lines.closeEnclosure()
            await Self.stored(.restored, by: box)
            await Self.stored(.health, by: box)
        }
        let health = try #require(records.last { $0.kind == .health })
        #expect(health.telemetry?.radio == Self.radio && health.telemetry?.supply?.batteryPercent == 77)
        let hlm = AIS140.frames(for: health, identity: BoxIdentity(imei: "490154203237518"), live: true)
        #expect(hlm.first?.contains(",490154203237518,77,") == true)
        let restored = try #require(records.first { $0.kind == .restored })
        #expect(restored.telemetry?.radio == Self.radio)
        let emergency = try #require(records.first { $0.kind == .emergency })
        let telemetry = try #require(emergency.telemetry)
        #expect(telemetry.radio == Self.radio)
        #expect(telemetry.supply?.mainVolts == 12.6 && telemetry.supply?.batteryPercent == 77)
        #expect(telemetry.ignition == true)
        // The health record made at start may come before the first reading; any made after it carries them.
        let frames = AIS140.frames(
            for: emergency, identity: BoxIdentity(imei: "490154203237518"), live: true)
        #expect(frames.first?.contains(",IND airtel,1,1,12.6,") == true)
        #expect(frames.first?.contains(",19,404,45,1A2B,C0FFE,") == true)
    }

    @Test("main power off drops the simulated main voltage; a failed radio reading leaves the radio unknown")
    func powerCutAndFailedRadio() async throws {
        let radio = ScriptedRadio(Self.radio)
        radio.value.withLock { $0 = .failure(TelemetryReadError("modem: no answer")) }
        let records = try await run(radio: radio, ignition: false) { box, lines in
            await box.inputService.watching()
            try lines.losePower()
            await Self.stored(.power, by: box)
            // An alert asks for a fresh reading: the records after it carry the cut supply.
            await box.telemetry.completed(1)
            try lines.press("driver-emergency")
            await box.telemetry.completed(2)
            try lines.press("help")
            await Self.stored(.help, by: box)
        }
        let help = try #require(records.first { $0.kind == .help })
        #expect(help.telemetry?.radio == nil)
        #expect(help.telemetry?.supply?.mainVolts == 0)
        #expect(help.telemetry?.ignition == false)
        // The box's state when the help was pressed: main power cut, an emergency open, the enclosure shut.
        #expect(help.telemetry?.mainPower == false)
        #expect(help.telemetry?.emergencyOpen == true)
        #expect(help.telemetry?.enclosureOpen == false)
    }
}
