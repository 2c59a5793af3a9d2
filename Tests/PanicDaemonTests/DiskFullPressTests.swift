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

#if canImport(Glibc)
    import Glibc
#endif

/// The control room's side of the uplink, scripted at the transport seam: it takes every record, and answers each
/// request with the operator's signed commands until the box acknowledges them (as the real control room reissues
/// a command until its ack arrives).
final class OperatorDesk: UplinkTransport, Sendable {
    struct State {
        var commands: [String: String] = [:]
        var received: [String] = []
    }
    let key = DeviceKey.generate()
    let deviceID: String
    let state = Mutex(State())

    init(deviceID: String) { self.deviceID = deviceID }

    /// The operator acts on `alert` (accept, clear…).
    func command(_ action: CommandAction, alert: String) throws {
        let now = Uplink.systemWallClock()
        let nonce = UUID().uuidString
        let command = ControlCommand(
            action: action, device: deviceID, alert: alert, nonce: nonce, issued: now,
            expires: RecordTime(epochMilliseconds: now.epochMilliseconds + 300_000))
        let signed = try CommandSigner(key: key).sign(command)
        state.withLock { $0.commands[nonce] = signed }
    }

    /// Envelopes received so far.
    var received: [String] { state.withLock { $0.received } }

    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        let commands = state.withLock { state in
            state.received += batch.envelopes
            for nonce in batch.commandAcks { state.commands[nonce] = nil }
            return Array(state.commands.values)
        }
        return RecordBatchResponse(
            results: batch.envelopes.map { _ in RecordResult(status: .accepted) }, alerts: [], commands: commands)
    }

    func shutdown() async throws {}
}

/// A small tmpfs that can be filled to the last block and freed again (needs root, as CI runs).
final class SmallCard: Sendable {
    let directory: String
    var mountPoint: String { directory + "/card" }
    var filler: String { mountPoint + "/filler" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("press-card-\(UUID())").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])
    }

    deinit {
        try? Self.run("/bin/umount", [mountPoint])
        try? FileManager.default.removeItem(atPath: directory)
    }

    func fill() {
        let handle = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        var block = [UInt8](repeating: 0, count: 4096)
        while write(handle, &block, block.count) > 0 {}
        var byte: UInt8 = 0
        while write(handle, &byte, 1) > 0 {}
        _ = close(handle)
    }

    func free() { unlink(filler) }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw DaemonError("\(tool) \(arguments) failed") }
    }
}

/// A box on the simulated board reporting to an `OperatorDesk`, its outbox and alert-state file where the test says.
struct DeskBox {
    let box: PanicBox
    let lines: SimulatedInputLines
    let board: BoardDefinition

    init(outboxPath: String, statePath: String, key: DeviceKey, desk: OperatorDesk) throws {
        let clock = SystemMonotonicClock()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        board = try BoardFile.loadValid(path: TestBox.sim)
        lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let outbox = try Outbox(path: outboxPath, sealer: RecordSigner(key: key), logger: logger)
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID, signingKey: key,
            backends: [
                .init(
                    name: "control-room", url: "http://127.0.0.1:9", controlRoomKey: desk.key.identity,
                    pollInterval: .milliseconds(100))
            ], clock: clock, transport: { _ in desk }, logger: logger)
        box = try PanicBox(
            parts: .init(
                inputs: lines, outputs: SimulatedOutputLines(specs: board.outputs, clock: clock),
                gnss: NMEAFixSource(PushedGNSSSource()), outbox: outbox, uplink: uplink, statePath: statePath),
            configuration: .init(), clock: clock, logger: logger)
    }

    var emergencyButton: String { board.inputs.first { $0.role == .emergency }!.name }

    /// Runs the box while `body` watches its events; the box stops when `body` returns.
    func run<T: Sendable>(
        _ body: @escaping @Sendable (PanicBox, SimulatedInputLines, AsyncStream<BoxEvent>.Iterator) async throws -> T
    ) async throws -> T {
        try await TestBox.run(box: box, lines: lines, body)
    }
}

extension TestBox {
    /// Runs `box` while `body` watches its events; the box stops when `body` returns.
    static func run<T: Sendable>(
        box: PanicBox, lines: SimulatedInputLines,
        _ body: @escaping @Sendable (PanicBox, SimulatedInputLines, AsyncStream<BoxEvent>.Iterator) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
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
}

extension AsyncStream<BoxEvent>.Iterator {
    /// The LED states shown until `state` (inclusive); nil when the stream ends first.
    mutating func shown(until state: IndicatorState) async -> [IndicatorState]? {
        var shown: [IndicatorState] = []
        while let event = await next() {
            if case .indicator(let led) = event {
                shown.append(led)
                if led == state { return shown }
            }
        }
        return nil
    }
}

@Suite(
    "Disk full at the press, and a lost alert-state file: the LED tells the truth", .serialized,
    .timeLimit(.minutes(2)))
struct DiskFullPressTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("press-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a press on a full card shows NOT STORED; with space back, accept and clear take effect, across a restart")
    func pressOnFullCard() async throws {
        guard getuid() == 0 else {
            Issue.record("this test mounts a small tmpfs to fill it for real: run it as root (CI does)")
            return
        }
        let card = try SmallCard()
        let key = DeviceKey.generate()
        let desk = OperatorDesk(deviceID: key.identity.deviceID)
        let outboxPath = card.mountPoint + "/outbox.sqlite"
        let statePath = card.mountPoint + "/engine-state.json"
        // The box's outbox exists; then the card fills up (logs, a stuck writer) and the box (re)starts on it.
        try Outbox(path: outboxPath, sealer: RecordSigner(key: key), logger: Logger(label: "test"))
            .register(backend: "control-room")
        card.fill()
        let alert = try await pressOnFullCardThenAccept(
            card: card, outboxPath: outboxPath, statePath: statePath, key: key, desk: desk)
        #expect(desk.received.count >= 1)

        // After a restart the box still follows it: the LED says help is on the way, and the clear takes effect.
        let second = try DeskBox(outboxPath: outboxPath, statePath: statePath, key: key, desk: desk)
        #expect(second.box.emergencyOpen)
        try await second.run { box, _, events in
            var events = events
            let restored = await events.shown(until: .helpOnTheWay)
            #expect(restored == [.helpOnTheWay], "\(restored ?? [])")
            try desk.command(.clear, alert: alert)
            let cleared = await events.shown(until: .cleared)
            #expect(cleared == [.cleared], "\(cleared ?? [])")
            #expect(!box.emergencyOpen, "the clear unlatches the emergency")
        }
    }

    /// The first run, on the full card (its outbox, opened with an exclusive lock there, is closed on return).
    func pressOnFullCardThenAccept(
        card: SmallCard, outboxPath: String, statePath: String, key: DeviceKey, desk: OperatorDesk
    ) async throws -> String {
        let first = try DeskBox(outboxPath: outboxPath, statePath: statePath, key: key, desk: desk)
        let button = first.emergencyButton
        return try await first.run { box, lines, events in
            var events = events
            _ = await events.shown(until: .armed)
            await box.inputService.watching()
            try lines.press(button)
            let held = await events.next {
                if case .held(_, .emergency) = $0 { return true }
                return false
            }
            guard case .held(let alert, _) = held else { throw DaemonError("the press was not held") }
            let full = await events.shown(until: .notStoredFull)
            #expect(full == [.notStoredFull], "the LED must say the press is not stored: \(full ?? [])")
            #expect(BoxStatusCheck.faults(box).contains("disk-full"))

            // Space returns: the held press is committed, reaches the control room, and the operator accepts it.
            card.free()
            let sent = await events.shown(until: .sent)
            #expect(sent == [.stored, .sent] || sent == [.sent], "\(sent ?? [])")
            try desk.command(.accept, alert: alert)
            let accepted = await events.shown(until: .helpOnTheWay)
            #expect(accepted == [.helpOnTheWay], "the accept for the once-held alert was refused: \(accepted ?? [])")
            return alert
        }
    }

    @Test(
        "an alert-state file deleted or corrupted: rebuilt from outbox and commands' history, LED help on the way",
        arguments: [true, false])
    func stateFileLost(deleted: Bool) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = DeviceKey.generate()
        let desk = OperatorDesk(deviceID: key.identity.deviceID)
        let outboxPath = directory + "/outbox.sqlite"
        let statePath = directory + "/engine-state.json"
        let first = try DeskBox(outboxPath: outboxPath, statePath: statePath, key: key, desk: desk)
        let button = first.emergencyButton
        let alert = try await first.run { box, lines, events in
            var events = events
            await box.inputService.watching()
            try lines.press(button)
            let stored = await events.next {
                if case .stored(_, .emergency, _) = $0 { return true }
                return false
            }
            guard case .stored(let alert, _, _) = stored else { throw DaemonError("the press was not stored") }
            _ = await events.shown(until: .sent)
            try desk.command(.accept, alert: alert)
            _ = await events.shown(until: .helpOnTheWay)
            return alert
        }
        if deleted {
            try FileManager.default.removeItem(atPath: statePath)
        } else {
            try Data("{\"engine\":{\"openHel".utf8).write(to: URL(fileURLWithPath: statePath))
        }

        let second = try DeskBox(outboxPath: outboxPath, statePath: statePath, key: key, desk: desk)
        #expect(second.box.emergencyOpen, "the latched emergency is rebuilt from the outbox")
        #expect(second.box.faults == [deleted ? "engine-state-lost-rebuilt" : "engine-state-corrupt-moved-aside"])
        try await second.run { box, _, events in
            var events = events
            let first = await events.next {
                if case .indicator = $0 { return true }
                return false
            }
            #expect(first == .indicator(.helpOnTheWay), "the LED after the restart must say what is true")
            // And the box still follows it: the operator's clear takes effect.
            try desk.command(.clear, alert: alert)
            _ = await events.shown(until: .cleared)
            #expect(!box.emergencyOpen)
        }
    }
}

extension DiskFullPressTests {
    @Test("an emergency held when the power went (in the state file, never in the outbox) is let go, not latched")
    func heldPressLostWithThePower() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let statePath = directory + "/engine-state.json"
        // The engine latched the press and its state was saved, but the outbox never took the record.
        try Data(
            #"{"engine":{"openEmergency":"lost-press","openHelp":[],"inputFaults":[]},"alertSequences":{}}"#.utf8
        ).write(to: URL(fileURLWithPath: statePath))
        let box = try TestBox(
            outboxPath: directory + "/outbox.sqlite", statePath: statePath, key: DeviceKey.generate())
        #expect(!box.box.emergencyOpen, "a latch on an alert nobody has would swallow every later press")
        let button = box.emergencyButton
        try await box.run { box, lines, events in
            var events = events
            await box.inputService.watching()
            try lines.press(button)
            let stored = await events.next {
                if case .stored(_, .emergency, _) = $0 { return true }
                return false
            }
            #expect(stored != nil, "the next press is an alert again")
        }
    }
}

/// What the box reports as faults in its next health record (the outbox's `disk-full` included).
enum BoxStatusCheck {
    static func faults(_ box: PanicBox) -> [String] {
        ((try? box.parts.outbox.status().faults) ?? []) + box.faults
    }
}
