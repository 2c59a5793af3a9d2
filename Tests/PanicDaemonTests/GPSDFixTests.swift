import Foundation
import Logging
import NMEA
import PanicConfig
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import PanicSigning
import PanicSim
import PanicStore
import PanicUplink
import Synchronization
import Testing

@Suite("panicd run's GNSS from gpsd", .timeLimit(.minutes(5)))
struct GPSDFixTests {
    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    @Test("a board whose GNSS comes from gpsd gets fixes: an emergency press is stored with gpsd's position")
    func locatedAlertFromGPSD() async throws {
        let tpv =
            #"{"class":"TPV","device":"/dev/ttyS0","mode":3,"time":"2026-11-23T08:30:00.000Z","lat":26.92476,"#
            + #""lon":75.81877,"altMSL":431.0,"speed":4.2,"track":90.0}"#
        // Two reports: an epoch is complete when the next one arrives.
        let later = tpv.replacingOccurrences(of: "08:30:00.000Z", with: "08:30:01.000Z")
        let gpsd = try FakeGPSDServer(replies: [tpv + "\r\n", later + "\r\n"])
        let clock = SystemMonotonicClock()
        let logger = Logger(label: "test")
        // The daemon's own choice of source for a board whose `gnss.gpsd` is set.
        let source = try Daemon.gnssSource(
            GNSSPortSpec(port: "/dev/null", gpsd: "127.0.0.1:\(gpsd.port)"), clock: clock, logger: logger)
        #expect(source is GPSDSource)

        let (finished, finishedSink) = AsyncStream<Void>.makeStream()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpsd-fix-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let board = try BoardFile.loadValid(path: Self.sim)
        let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let key = DeviceKey.generate()
        let outbox = try Outbox(path: directory + "/outbox.sqlite", sealer: RecordSigner(key: key), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID, backends: [], clock: clock, logger: logger)
        let box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock),
                gnss: Finishing(base: source, finished: finishedSink),
                outbox: outbox, uplink: uplink, statePath: directory + "/engine-state.json"),
            configuration: .init(), clock: clock, logger: logger)

        let stored: Int64? = try await withThrowingTaskGroup(of: Int64?.self) { group in
            group.addTask {
                try await box.run()
                return nil
            }
            group.addTask {
                // The fake gpsd closes its connection after its two reports: once the source has ended, both
                // are in the fix keeper.
                for await _ in finished { break }
                #expect(box.fixes.hasCurrentFix)
                await box.inputService.watching()
                let button = try #require(board.inputs.first { $0.role == .emergency })
                try lines.press(button.name)
                for await event in box.events {
                    if case .stored(_, .emergency, let sequence) = event { return sequence }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return nil
        }
        let sequence = try #require(stored)
        let record = try #require(try outbox.records().first { $0.sequence == sequence })
        let payload = try #require(Base64URL.decode(record.envelope.split(separator: ".")[1]))
        let decoded = try JSONDecoder().decode(Record.self, from: payload)
        let fix = try #require(decoded.fix)
        #expect(abs(fix.latitude - 26.92476) < 1e-6)
        #expect(abs(fix.longitude - 75.81877) < 1e-6)
        #expect(gpsd.received.hasPrefix("?WATCH="))
    }
}

/// Tells the test when the source it wraps has ended (every report read and decoded).
struct Finishing: GNSSFixSource {
    let base: any GNSSFixSource
    let finished: AsyncStream<Void>.Continuation

    func run(_ deliver: @Sendable ([GNSSFix]) async throws -> Void) async throws {
        try await base.run(deliver)
        finished.yield()
    }
}
