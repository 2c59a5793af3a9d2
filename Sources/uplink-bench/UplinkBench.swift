// uplink-bench: the device uplink against a control room on loopback, with real SQLite files and HTTP.
// Prints figures; it asserts nothing (timings belong here, not in tests).
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink

let logger: Logger = {
    var logger = Logger(label: "uplink-bench")
    logger.logLevel = .critical
    return logger
}()
let clock = SystemMonotonicClock()
let backlogSize = Int(ProcessInfo.processInfo.environment["UPLINK_BENCH_BACKLOG"] ?? "") ?? 100_000
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("uplink-bench-\(getpid())").path

/// Prints a line at once (unbuffered), so figures show up as they are measured even when the output is a file.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func percentile(_ values: [Duration], _ p: Double) -> Duration {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func ms(_ duration: Duration) -> String {
    String(format: "%.2f ms", Double(duration.nanosecondsClamped) / 1e6)
}

func seconds(_ duration: Duration) -> Double { Double(duration.nanosecondsClamped) / 1e9 }

func draft(_ body: RecordBody) -> RecordDraft {
    RecordDraft(
        id: UUID().uuidString.lowercased(), time: Uplink.systemWallClock(), timeSource: .system,
        fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 900), body: body)
}

/// Runs `body` with a control room listening on a loopback port.
@MainActor
func withServer(_ name: String, _ body: (ControlRoom, String, FaultInjector) async throws -> Void) async throws {
    let room = try ControlRoom(path: "\(directory)/\(name).db", key: DeviceKey.generate(), logger: logger)
    let faults = FaultInjector()
    let (ports, sink) = AsyncStream<Int>.makeStream()
    let app = ControlRoomServer.application(
        controlRoom: room, host: "127.0.0.1", port: 0, faults: faults, logger: logger, onRunning: { sink.yield($0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        try await body(room, "http://127.0.0.1:\(port)", faults)
        group.cancelAll()
    }
}

func makeDevice(_ name: String) throws -> (DeviceKey, Outbox) {
    let key = DeviceKey.generate()
    let outbox = try Outbox(
        path: "\(directory)/\(name)-outbox.db", sealer: RecordSigner(key: key),
        configuration: OutboxConfiguration(maxRecords: backlogSize * 2 + 10_000, maxBytes: 4 << 30), logger: logger)
    return (key, outbox)
}

/// Waits for the next event that satisfies `match`.
@MainActor
func next(_ events: inout AsyncStream<UplinkEvent>.Iterator, _ match: (UplinkEvent) -> Bool) async {
    while let event = await events.next(isolation: #isolation) { if match(event) { return } }
}

@main
enum UplinkBench {
    static func main() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        say("uplink-bench: control room and device on loopback (HTTP/1.1), backlog \(backlogSize) records")

        // 1. Press → control-room acknowledgement.
        try await withServer("latency") { room, url, _ in
            let (key, outbox) = try makeDevice("latency")
            try await room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
            let uplink = try Uplink(
                outbox: outbox, deviceID: key.identity.deviceID, signingKey: key,
                backends: [.init(name: "cr", url: url)],
                clock: clock,
                logger: logger)
            var events = uplink.events.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await uplink.run() }
                var latencies: [Duration] = []
                var commits: [Duration] = []
                for index in 0..<300 {
                    let start = clock.now
                    try uplink.submit(draft(.emergency(input: "panic-1")))
                    let committed = clock.now
                    await next(&events) { if case .delivered(_, .alert, let n) = $0 { n > 0 } else { false } }
                    if index >= 20 {  // after warm-up
                        latencies.append(start.duration(to: clock.now))
                        commits.append(start.duration(to: committed))
                    }
                }
                say("press → control-room acknowledgement (\(latencies.count) presses, sequential):")
                say(
                    "  p50 \(ms(percentile(latencies, 0.5)))  p99 \(ms(percentile(latencies, 0.99)))  max \(ms(latencies.max()!))  (goal p99 ≤ 50 ms)"
                )
                say(
                    "  of which sign + commit (fsync): p50 \(ms(percentile(commits, 0.5)))  p99 \(ms(percentile(commits, 0.99)))"
                )
                group.cancelAll()
            }
        }

        // 2 and 3. A backlog drained, and fresh emergencies while it drains.
        try await withServer("drain") { room, url, _ in
            let (key, outbox) = try makeDevice("drain")
            try await room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
            var start = clock.now
            var remaining = backlogSize
            while remaining > 0 {
                let count = min(1000, remaining)
                _ = try outbox.append(contentsOf: (0..<count).map { _ in draft(.position) })
                remaining -= count
            }
            say(
                "backlog of \(backlogSize) positions appended in \(String(format: "%.1f", seconds(start.duration(to: clock.now)))) s"
            )
            start = clock.now
            let all = try outbox.records()
            let readRate = Double(all.count) / seconds(start.duration(to: clock.now))
            say("raw SQLite read of the outbox (every envelope, one query): \(Int(readRate)) records/s")

            // The backlog piled up while the link was down; the uplink starting now is the reconnection.
            let uplink = try Uplink(
                outbox: outbox, deviceID: key.identity.deviceID, signingKey: key,
                backends: [.init(name: "cr", url: url, batchSize: 500)],
                clock: clock, logger: logger)
            var events = uplink.events.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let reconnect = clock.now
                group.addTask { try await uplink.run() }
                var delivered = 0
                var alertLatencies: [Duration] = []
                var pressedAt: MonotonicInstant?
                var nextPressAt = backlogSize / 10
                var backlogDoneAt: MonotonicInstant?
                // The first emergency is pressed at the moment of reconnection.
                try uplink.submit(draft(.emergency(input: "panic-1")))
                pressedAt = clock.now
                while backlogDoneAt == nil || pressedAt != nil, let event = await events.next(isolation: #isolation) {
                    guard case .delivered(_, let lane, let count) = event else { continue }
                    if lane == .alert, count > 0, let pressed = pressedAt {
                        alertLatencies.append(pressed.duration(to: clock.now))
                        pressedAt = nil
                    }
                    if lane == .backlog {
                        delivered += count
                        if delivered >= nextPressAt, pressedAt == nil, backlogDoneAt == nil {
                            nextPressAt += backlogSize / 10
                            try uplink.submit(draft(.emergency(input: "panic-1")))
                            pressedAt = clock.now
                        }
                        if delivered >= backlogSize, backlogDoneAt == nil { backlogDoneAt = clock.now }
                    }
                }
                let drain = reconnect.duration(to: backlogDoneAt!)
                let drainRate = Double(backlogSize) / seconds(drain)
                say(
                    "backlog drained: \(backlogSize) records in \(String(format: "%.2f", seconds(drain))) s = \(Int(drainRate)) records/s (batches of 500)"
                )
                say(String(format: "  drain rate / raw SQLite read rate = %.3f", drainRate / readRate))
                say(
                    "fresh emergency → control room while the backlog drains (\(alertLatencies.count) presses, first at reconnect):"
                )
                say(
                    "  first (at reconnect) \(ms(alertLatencies[0]))  p50 \(ms(percentile(alertLatencies, 0.5)))  max \(ms(alertLatencies.max()!))  (goal ≤ 1 s)"
                )
                say(
                    "stored at the control room: \(try await room.recordCount()) records, gaps: \(try await room.gaps(device: key.identity.deviceID).count)"
                )
                group.cancelAll()
            }
        }
    }
}
