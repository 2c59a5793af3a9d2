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
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A box on the simulated board with its outbox and alert-state file where the test says, run until the test is
/// done with it; its one backend is a closed loopback port (a box without network): records stay in the outbox.
struct TestBox {
    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    let box: PanicBox
    let lines: SimulatedInputLines
    let board: BoardDefinition

    init(outboxPath: String, statePath: String, key: DeviceKey) throws {
        let clock = SystemMonotonicClock()
        let logger = Logger(label: "test")
        board = try BoardFile.loadValid(path: Self.sim)
        lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let outbox = try Outbox(path: outboxPath, sealer: RecordSigner(key: key), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID,
            backends: [.init(name: "unreachable", url: "http://127.0.0.1:1")], clock: clock, logger: logger)
        box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock),
                gnss: NMEAFixSource(PushedGNSSSource()), outbox: outbox, uplink: uplink, statePath: statePath),
            configuration: .init(), clock: clock, logger: logger)
    }

    /// Runs the box while `body` watches its events; the box stops when `body` returns.
    func run<T: Sendable>(
        _ body: @escaping @Sendable (PanicBox, SimulatedInputLines, AsyncStream<BoxEvent>.Iterator) async throws -> T
    ) async throws -> T {
        let box = box
        let lines = lines
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await box.run()
                return nil
            }
            group.addTask { try await body(box, lines, box.events.makeAsyncIterator()) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    var emergencyButton: String { board.inputs.first { $0.role == .emergency }!.name }
}

extension AsyncStream<BoxEvent>.Iterator {
    /// The next event that `matches`, skipping others (nil when the stream ends).
    mutating func next(where matches: (BoxEvent) -> Bool) async -> BoxEvent? {
        while let event = await next() {
            if matches(event) { return event }
        }
        return nil
    }
}

@Suite("The alert-state file survives faults", .serialized, .timeLimit(.minutes(2)))
struct AlertStateFileTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("alert-state-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a truncated alert-state file: the box starts, sets the file aside, and rebuilds the open emergency")
    func truncated() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = DeviceKey.generate()
        let state = directory + "/engine-state.json"
        let first = try TestBox(outboxPath: directory + "/outbox.sqlite", statePath: state, key: key)
        let button = first.emergencyButton
        try await first.run { box, lines, events in
            var events = events
            // Pressed once the box watches its lines (a loop open at start-up is a cut wire, not a press).
            await box.inputService.watching()
            try lines.press(button)
            _ = await events.next {
                if case .alert(let transition) = $0 { return transition.to == .stored }
                return false
            }
        }
        // A torn write: half the file.
        let data = try Data(contentsOf: URL(fileURLWithPath: state))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: state))

        let second = try TestBox(outboxPath: directory + "/outbox.sqlite", statePath: state, key: key)
        #expect(second.box.emergencyOpen, "the open emergency is rebuilt from the outbox")
        #expect(second.box.faults == ["engine-state-corrupt-moved-aside"])
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
            $0.hasPrefix("engine-state.json.corrupt-")
        }
        #expect(aside.count == 1)
        let shown = try await second.run { _, _, events in
            var events = events
            return await events.next {
                if case .indicator = $0 { return true }
                return false
            }
        }
        #expect(shown == .indicator(.stored))
    }

    @Test("a full disk while the alert state is written: retried until it succeeds; a restart keeps the emergency")
    func fullDisk() async throws {
        guard getuid() == 0 else {
            Issue.record("this test mounts a small tmpfs to fill it for real: run it as root (CI does)")
            return
        }
        let directory = try temporaryDirectory()
        let small = directory + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mount -t tmpfs failed")
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = [small]
            try? unmount.run()
            unmount.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
        // Fill the file system to the last block.
        let filler = small + "/filler"
        let handle = open(filler, O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0, count: 4096)
        while write(handle, block, block.count) > 0 {}
        _ = close(handle)

        let key = DeviceKey.generate()
        let state = small + "/engine-state.json"
        let first = try TestBox(outboxPath: directory + "/outbox.sqlite", statePath: state, key: key)
        let button = first.emergencyButton
        try await first.run { box, lines, events in
            var events = events
            await box.inputService.watching()
            try lines.press(button)
            let raised = await events.next {
                if case .fault = $0 { return true }
                return false
            }
            #expect(raised == .fault("engine-state-unwritable", raised: true))
            #expect(box.alertStateOwed)
            #expect(box.faults == ["engine-state-unwritable"])
            // The card has room again: the next retry succeeds, within a second.
            try FileManager.default.removeItem(atPath: filler)
            let cleared = await events.next {
                if case .fault = $0 { return true }
                return false
            }
            #expect(cleared == .fault("engine-state-unwritable", raised: false))
            #expect(!box.alertStateOwed)
        }
        let restarted = try TestBox(outboxPath: directory + "/outbox.sqlite", statePath: state, key: key)
        #expect(restarted.box.emergencyOpen, "after a restart the box still knows its latched emergency")
        #expect(restarted.box.faults.isEmpty)
    }
}
