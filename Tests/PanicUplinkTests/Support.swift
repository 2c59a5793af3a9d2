import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import ServiceLifecycle
import Testing

/// A fresh temporary directory, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("uplink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

/// A device: its key, its outbox.
struct TestDevice {
    let key: DeviceKey
    let outbox: Outbox
    var id: String { key.identity.deviceID }

    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        key = DeviceKey.generate()
        outbox = try Outbox(path: directory + "/outbox.db", sealer: RecordSigner(key: key), logger: quietLogger)
    }
}

/// Wall time for records: a fixed day, plus the virtual clock's offset.
func wallClock(for clock: ManualClock) -> @Sendable () -> RecordTime {
    { RecordTime(epochMilliseconds: 1_764_000_000_000 + clock.now.sinceOrigin.milliseconds) }
}

extension Duration {
    var milliseconds: Int64 { nanosecondsClamped / 1_000_000 }
}

func position(_ index: Int, at time: RecordTime) -> RecordDraft {
    RecordDraft(
        id: UUID().uuidString.lowercased(), time: time, timeSource: .gnss,
        fix: RecordFix(latitude: 28.6 + Double(index) * 1e-5, longitude: 77.2, ageMilliseconds: 800), body: .position)
}

func emergency(at time: RecordTime) -> RecordDraft {
    RecordDraft(
        id: UUID().uuidString.lowercased(), time: time, timeSource: .gnss,
        fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 1200), body: .emergency(input: "panic-1")
    )
}

/// A control room served over HTTP on a free loopback port while `body` runs.
struct RunningControlRoom: Sendable {
    let room: ControlRoom
    let key: DeviceKey
    let faults: FaultInjector
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
}

func withControlRoom<T: Sendable>(
    directory: String, name: String = "cr", wallClock: (@Sendable () -> RecordTime)? = nil,
    tls: (
        @Sendable (Router<ControlRoomRequestContext>, @escaping @Sendable (Int) async -> Void) throws -> any Service
    )? = nil,
    _ body: (RunningControlRoom) async throws -> T
) async throws -> T {
    let key = DeviceKey.generate()
    let room = try ControlRoom(
        path: directory + "/\(name).db", key: key, wallClock: wallClock ?? Uplink.systemWallClock, logger: quietLogger)
    let faults = FaultInjector()
    let (ports, portSink) = AsyncStream<Int>.makeStream()
    let service: any Service
    if let tls {
        service = try tls(ControlRoomServer.router(controlRoom: room, faults: faults)) { portSink.yield($0) }
    } else {
        service = ControlRoomServer.application(
            controlRoom: room, host: "127.0.0.1", port: 0, faults: faults, logger: quietLogger,
            onRunning: { portSink.yield($0) })
    }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await service.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        let result = try await body(RunningControlRoom(room: room, key: key, faults: faults, port: port))
        group.cancelAll()
        return result
    }
}

/// Runs `uplink` while `body` drives it; cancels it afterwards.
func withUplink<T: Sendable>(_ uplink: Uplink, _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await uplink.run() }
        let result = try await body()
        group.cancelAll()
        return result
    }
}

/// `drive` for one uplink, holding its event iterator (for helpers that hand the driving to a test's body).
final class Driver {
    let uplink: Uplink
    let clock: ManualClock
    private var events: AsyncStream<UplinkEvent>.Iterator

    init(uplink: Uplink, clock: ManualClock) {
        self.uplink = uplink
        self.clock = clock
        events = uplink.events.makeAsyncIterator()
    }

    /// Drives virtual time until `done` holds (see `drive`).
    func until(_ done: () async throws -> Bool) async throws {
        try await drive(uplink, events: &events, clock: clock, until: done)
    }
}

/// Drives virtual time: whenever a backend goes quiet with a deadline, the clock jumps to it. Returns once
/// `done` holds after an event; fails when the uplink stops or `maxEvents` pass without it.
func drive(
    _ uplink: Uplink, events: inout AsyncStream<UplinkEvent>.Iterator, clock: ManualClock,
    maxEvents: Int = 100_000, until done: () async throws -> Bool
) async throws {
    if try await done() { return }
    // The uplink may have gone quiet before this call (its last event was consumed by an earlier drive): let
    // time run on to the next timer so it acts again.
    if let next = clock.nextDeadline { clock.advance(to: next) }
    var count = 0
    while let event = await events.next() {
        count += 1
        if try await done() { return }
        if case .idle(_, let until?) = event { clock.advance(to: until) }
        if count > maxEvents { break }
    }
    Issue.record("the uplink stopped or gave up before the condition held (after \(count) events)")
}
