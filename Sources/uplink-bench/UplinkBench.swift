// uplink-bench: the device uplink against a control room on loopback, with real SQLite files and HTTP.
// Prints figures; it asserts nothing (timings belong here, not in tests).
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSQLite
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
/// Backlog batches in flight in the main drain (`UPLINK_BENCH_WINDOW`; default: the protocol's).
let drainWindow =
    Int(ProcessInfo.processInfo.environment["UPLINK_BENCH_WINDOW"] ?? "") ?? BackendProtocol.panicBridge.backlogWindow
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
        controlRoom: room, host: "127.0.0.1", port: 0, faults: faults, installDesk: Desk(room: room).installer(),
        logger: logger, onRunning: { sink.yield($0) })
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

/// CPU seconds per row of the last `readDeleteRate` (user + system, the whole process: the peer runs alone).
nonisolated(unsafe) var peerCPUPerRow = 0.0
/// CPU seconds of the last `drainRate`'s drain (the whole process, appends excluded).
nonisolated(unsafe) var lastDrainCPU = 0.0

/// The drain's peer: the same envelopes in a plain SQLite table (WAL, `synchronous=FULL`, as the outbox), read and
/// deleted in batches of `batch` rows, one transaction each: the rate at which SQLite alone can hand the rows over.
func readDeleteRate(_ envelopes: [String], name: String, batch: Int = 500) throws -> Double {
    let peer = try SQLiteConnection(path: "\(directory)/\(name)-peer.db")
    try peer.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
    try peer.execute("CREATE TABLE rows(seq INTEGER PRIMARY KEY, envelope TEXT NOT NULL)")
    try peer.transaction {
        let insert = try peer.prepare("INSERT INTO rows(seq, envelope) VALUES(?1, ?2)")
        for (index, envelope) in envelopes.enumerated() {
            try insert.bind([.integer(Int64(index + 1)), .text(envelope)]).run()
        }
    }
    let read = try peer.prepare("SELECT seq, envelope FROM rows ORDER BY seq LIMIT ?1")
    let delete = try peer.prepare("DELETE FROM rows WHERE seq <= ?1")
    let start = clock.now
    let cpuStart = CPUTime.process()
    defer { peerCPUPerRow = (CPUTime.process() - cpuStart) / Double(envelopes.count) }
    var moved = 0
    while moved < envelopes.count {
        try peer.transaction {
            try read.bind([.integer(Int64(batch))])
            var last: Int64 = 0
            var bytes = 0
            while try read.step() {
                last = read.integer(0)
                bytes += read.text(1).utf8.count
                moved += 1
            }
            read.reset()
            precondition(bytes > 0)
            try delete.bind([.integer(last)]).run()
        }
    }
    return Double(moved) / seconds(start.duration(to: clock.now))
}

/// Waits for the next event that satisfies `match`.
@MainActor
func next(_ events: inout AsyncStream<UplinkEvent>.Iterator, _ match: (UplinkEvent) -> Bool) async {
    while let event = await events.next(isolation: #isolation) { if match(event) { return } }
}

@main
enum UplinkBench {
    static func main() async throws {
        if ProcessInfo.processInfo.environment["UPLINK_BENCH_ROLE"] == "unchecked-receiver" {
            try await UncheckedReceiver.serve()
            return
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        say("uplink-bench: control room and device on loopback (HTTP/1.1), backlog \(backlogSize) records")
        if ProcessInfo.processInfo.environment["UPLINK_BENCH_ONLY"] == "protocols" {
            try await protocolDrains()
            return
        }
        if ProcessInfo.processInfo.environment["UPLINK_BENCH_ONLY"] == "flood" {
            try await commandFlood()
            return
        }

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
            let peerRate = try readDeleteRate(all.map(\.envelope), name: "drain")
            say(
                "raw SQLite read+delete of the same rows (batches of 500, one transaction each): \(Int(peerRate)) records/s"
            )

            // The backlog piled up while the link was down; the uplink starting now is the reconnection.
            let uplink = try Uplink(
                outbox: outbox, deviceID: key.identity.deviceID, signingKey: key,
                backends: [.init(name: "cr", url: url, batchSize: 500, backlogWindow: drainWindow)],
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
                    "backlog drained: \(backlogSize) records in \(String(format: "%.2f", seconds(drain))) s = \(Int(drainRate)) records/s (batches of 500, up to \(drainWindow) in flight)"
                )
                say(String(format: "  drain rate / raw SQLite read rate = %.3f", drainRate / readRate))
                say(
                    String(
                        format: "  drain rate / raw SQLite read+delete rate = %.3f  (goal ≥ 0.5)", drainRate / peerRate)
                )
                say(
                    "fresh emergency → control room while the backlog drains (\(alertLatencies.count) presses, first at reconnect):"
                )
                say(
                    "  first (at reconnect) \(ms(alertLatencies[0]))  p50 \(ms(percentile(alertLatencies, 0.5)))  max \(ms(alertLatencies.max()!))  (goal ≤ 200 ms)"
                )
                say(
                    "stored at the control room: \(try await room.recordCount()) records, gaps: \(try await room.gaps(device: key.identity.deviceID).count)"
                )
                group.cancelAll()
            }
        }
        try await protocolDrains()
        try await commandFlood()
    }

    /// 4. The same backlog drained by each protocol's transport, to its reference receiver on loopback.
    @MainActor
    static func protocolDrains() async throws {
        let size = Int(ProcessInfo.processInfo.environment["UPLINK_BENCH_PROTOCOL_BACKLOG"] ?? "") ?? 10_000
        let identity = BoxIdentity(imei: "490154203237518", vehicleRegistration: "RJ14PB1234")
        say("backlog of \(size) positions drained per protocol (one backend each, receiver on loopback):")
        let peerRate = try readDeleteRate(
            (0..<size).map { _ in String(repeating: "x", count: 700) }, name: "protocols")
        say("  peer: raw SQLite read+delete of \(size) rows of 700 bytes (batches of 500): \(Int(peerRate)) records/s")
        func ratio(_ rate: Double) -> String { String(format: "%.3f× the peer", rate / peerRate) }
        // PanicBridge: the reference control room verifies and stores every record; once with one batch in flight
        // (as before issue 29's window), once with the protocol's window.
        for window in [1, 2] where drainWanted("panicbridge-\(window)") {
            try await withServer("drain-panicbridge-\(window)") { room, url, _ in
                let (key, outbox) = try makeDevice("drain-panicbridge-\(window)")
                try await room.addDevice(id: key.identity.deviceID, publicKey: key.identity.jwk)
                let rate = try await drainRate(
                    outbox, key: key, backend: .init(name: "cr", url: url, batchSize: 500, backlogWindow: window),
                    size: size)
                say(
                    "  panicbridge (signed JWS batches of 500, \(window) in flight, verified and stored): \(Int(rate)) records/s, \(ratio(rate))"
                )
            }
        }
        if drainWanted("unchecked") { try await uncheckedDrain(size: size, ratio: ratio) }
        if drainWanted("ais140") { try await ais140Drain(size: size, identity: identity, ratio: ratio) }
        if drainWanted("osmand") { try await osmAndDrain(size: size, identity: identity, ratio: ratio) }
    }

    /// The box's side alone: the same drain to a server that answers every record accepted unchecked (no
    /// signature verified, nothing stored), so what is left is claim, sign, HTTP and settle on the box. The server
    /// runs in a process of its own (`UPLINK_BENCH_ROLE=unchecked-receiver`), so the box's CPU time is its own.
    @MainActor
    static func uncheckedDrain(size: Int, ratio: (Double) -> String) async throws {
        let receiver = try UncheckedReceiver.spawn()
        defer { receiver.stop() }
        let (key, outbox) = try makeDevice("drain-unchecked")
        let rate = try await drainRate(
            outbox, key: key, backend: .init(name: "cr", url: "http://127.0.0.1:\(receiver.port)", batchSize: 500),
            size: size)
        let boxCPU = lastDrainCPU
        say(
            "  panicbridge, box side only (same batches to a server in its own process that accepts unchecked): \(Int(rate)) records/s, \(ratio(rate))"
        )
        let perRecord = boxCPU / Double(size)
        say(
            String(
                format:
                    "  box CPU per drained record %.2f µs (peer: %.2f µs per row read+deleted); the box drains %.0f records per CPU-second = %.3f× the peer's rows per CPU-second  (goal ≥ 0.5)",
                perRecord * 1e6, peerCPUPerRow * 1e6, 1 / perRecord, peerCPUPerRow / perRecord))
    }

    /// AIS-140: one kept session (one login), each batch's frames fenced by a heartbeat answer.
    @MainActor
    static func ais140Drain(size: Int, identity: BoxIdentity, ratio: (Double) -> String) async throws {
        let receiver = try await AIS140ReferenceReceiver()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await receiver.run() }
            let (key, outbox) = try makeDevice("drain-ais140")
            let rate = try await drainRate(
                outbox, key: key,
                backend: .init(
                    name: "vlt", url: receiver.url, batchSize: 100, wire: .ais140(AIS140Options(identity: identity))),
                size: size)
            let frames = receiver.frames.filter { $0.position != nil }.count
            say(
                "  ais140 (one session, batches of 100: frames, heartbeat fence; each frame decoded): \(Int(rate)) records/s (\(frames) frames, \(receiver.logins) logins), \(ratio(rate))"
            )
            group.cancelAll()
        }
    }

    /// OsmAnd: one HTTP request per record.
    @MainActor
    static func osmAndDrain(size: Int, identity: BoxIdentity, ratio: (Double) -> String) async throws {
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let router = Router()
        router.post("/") { _, _ -> HTTPResponse.Status in .ok }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { sink.yield($0.localAddress?.port ?? 0) }, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            let (key, outbox) = try makeDevice("drain-osmand")
            let rate = try await drainRate(
                outbox, key: key,
                backend: .init(
                    name: "traccar", url: "http://127.0.0.1:\(port)/", batchSize: 100,
                    wire: .osmAnd(OsmAndOptions(deviceID: identity.imei))),
                size: size)
            say(
                "  osmand (one POST per record, keep-alive, batches of 100, \(BackendProtocol.osmAnd(OsmAndOptions(deviceID: "")).backlogWindow) in flight): \(Int(rate)) records/s, \(ratio(rate))"
            )
            group.cancelAll()
        }
    }

    /// Appends `size` positions, then times the uplink draining them to `backend`.
    @MainActor
    static func drainRate(
        _ outbox: Outbox, key: DeviceKey, backend: BackendConfiguration, size: Int
    ) async throws
        -> Double
    {
        var remaining = size
        while remaining > 0 {
            let count = min(1000, remaining)
            _ = try outbox.append(contentsOf: (0..<count).map { _ in draft(.position) })
            remaining -= count
        }
        let uplink = try Uplink(
            outbox: outbox, deviceID: key.identity.deviceID, signingKey: key, backends: [backend], clock: clock,
            logger: logger)
        var events = uplink.events.makeAsyncIterator()
        perfControl("enable")
        defer { perfControl("disable") }
        let cpuStart = CPUTime.process()
        defer { lastDrainCPU = CPUTime.process() - cpuStart }
        return await withThrowingTaskGroup(of: Void.self) { group in
            let start = clock.now
            group.addTask { try await uplink.run() }
            var delivered = 0
            while delivered < size, let event = await events.next(isolation: #isolation) {
                if case .delivered(_, _, let count) = event { delivered += count }
            }
            let rate = Double(size) / seconds(start.duration(to: clock.now))
            group.cancelAll()
            return rate
        }
    }
}

/// A press → shown sent, alone and while a hostile second backend (same pinned key) answers every request with
/// `forged` forged commands (issue 23 item 5: 150,000 of them, 55 MB, froze the box for 22-25 s per answer). Goal:
/// p99 ≤ 1 s under the flood.
@MainActor
func commandFlood() async throws {
    for forged in [0, 1_500, 150_000] {
        try await withServer("flood-\(forged)") { room, url, _ in
            let (key, outbox) = try makeDevice("flood-\(forged)")
            let device = key.identity.deviceID
            try await room.addDevice(id: device, publicKey: key.identity.jwk)
            let roomKey = try require(room.identity, "control-room key")
            // A genuine-looking command (the pinned kid) whose signature does not verify: a full check each.
            let parts = try CommandSigner(key: DeviceKey.generate()).sign(
                ControlCommand(
                    action: .clear, device: device, alert: "none", nonce: "n", issued: RecordTime(epochMilliseconds: 0),
                    expires: RecordTime(epochMilliseconds: Int64.max / 2))
            ).split(separator: ".").map(String.init)
            let header = Base64URL.encode(Data(#"{"alg":"EdDSA","kid":"\#(roomKey.thumbprint)"}"#.utf8))
            let forgedCommand = "\"" + [header, parts[1], parts[2]].joined(separator: ".") + "\""
            let commands = "[" + Array(repeating: forgedCommand, count: forged).joined(separator: ",") + "]"
            let router = Router()
            router.post("/v1/records") { request, context -> Response in
                let batch = try await request.decode(as: RecordBatch.self, context: context)
                let results = batch.envelopes.map { _ in #"{"status":"accepted"}"# }.joined(separator: ",")
                let body = #"{"results":[\#(results)],"alerts":[],"commands":\#(commands)}"#
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: body)))
            }
            let (ports, sink) = AsyncStream<Int>.makeStream()
            let hostile = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { sink.yield($0.localAddress?.port ?? 0) }, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await hostile.runService() }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { return }
                var backends: [BackendConfiguration] = [.init(name: "cr", url: url, controlRoomKey: roomKey)]
                if forged > 0 {
                    backends.append(
                        .init(
                            name: "rogue", url: "http://127.0.0.1:\(port)", controlRoomKey: roomKey,
                            pollInterval: .milliseconds(50)))
                }
                let uplink = try Uplink(
                    outbox: outbox, deviceID: device, signingKey: key, backends: backends, clock: clock,
                    logger: logger)
                var transitions = uplink.alerts.transitions.makeAsyncIterator()
                group.addTask { try await uplink.run() }
                var latencies: [Duration] = []
                for index in 0..<25 {
                    let start = clock.now
                    let press = draft(.emergency(input: "panic-1"))
                    try uplink.submit(press)
                    while let transition = await transitions.next(isolation: #isolation) {
                        if transition.alert == press.id, transition.to == .sent { break }
                    }
                    if index >= 5 { latencies.append(start.duration(to: clock.now)) }
                }
                say(
                    "press → shown sent, \(forged == 0 ? "no hostile backend" : "hostile backend answering \(forged) forged commands") (\(latencies.count) presses): p50 \(ms(percentile(latencies, 0.5)))  p99 \(ms(percentile(latencies, 0.99)))  max \(ms(latencies.max()!))  (goal p99 ≤ 1 s)"
                )
                group.cancelAll()
            }
        }
    }
}

/// Whether the drain `name` runs: every drain unless `UPLINK_BENCH_DRAINS` lists some (comma-separated:
/// panicbridge-1, panicbridge-2, unchecked, ais140, osmand).
func drainWanted(_ name: String) -> Bool {
    guard let list = ProcessInfo.processInfo.environment["UPLINK_BENCH_DRAINS"] else { return true }
    return list.split(separator: ",").contains { $0 == name }
}

/// Writes `command` to perf's control FIFO (`UPLINK_BENCH_PERF_CTL`, as `perf record -D -1 --control fifo:PATH`
/// reads it), so a profile covers the drains only, not the appends before them.
func perfControl(_ command: String) {
    guard let path = ProcessInfo.processInfo.environment["UPLINK_BENCH_PERF_CTL"],
        let handle = FileHandle(forWritingAtPath: path)
    else { return }
    handle.write(Data((command + "\n").utf8))
    try? handle.close()
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

/// `value`, or an error naming what was missing.
func require<T>(_ value: T?, _ what: String = "value") throws -> T {
    guard let value else { throw BenchError(description: "no \(what)") }
    return value
}

/// CPU time used by this process so far (user + system, every thread), in seconds.
enum CPUTime {
    static func process() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// The box-side drain's receiver, in a child process: answers every record of a batch accepted, unchecked.
struct UncheckedReceiver {
    let process: Process
    let port: Int

    /// Starts this executable as the receiver and reads the port it listens on.
    static func spawn() throws -> UncheckedReceiver {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        var environment = ProcessInfo.processInfo.environment
        environment["UPLINK_BENCH_ROLE"] = "unchecked-receiver"
        environment["UPLINK_BENCH_PERF_CTL"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != 10 {
            line.append(first)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).dropFirst("port ".count)) else {
            process.terminate()
            throw BenchError(
                description: "the receiver process said \(String(decoding: line, as: UTF8.self)), not its port")
        }
        return UncheckedReceiver(process: process, port: port)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    /// The child's side: serves until terminated.
    @MainActor
    static func serve() async throws {
        let router = Router()
        router.post("/v1/records") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            let batch = try RecordBatch.decode(json: Data(body.readableBytesView))
            let answer = try JSONEncoder().encode(
                RecordBatchResponse(
                    results: batch.envelopes.map { _ in RecordResult(status: .accepted) }, alerts: [], commands: []))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { say("port \($0.localAddress?.port ?? 0)") }, logger: logger)
        try await app.runService()
    }
}
