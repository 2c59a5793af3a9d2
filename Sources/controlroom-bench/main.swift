// controlroom-bench: the control room's intake over HTTP on loopback, on SQLite and on PostgreSQL, beside the peers
// that bound it on this machine (Ed25519 verifications per second from `openssl speed`, raw inserts per second into
// each database). Prints figures; asserts nothing (timings belong here, not in tests).
//
//   controlroom-bench [--postgres postgres://user@host:port/db]   (without it: SQLite only)
import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import ControlRoomPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore
import PanicCore
import PanicSQLite
import PanicSigning
import PostgresNIO

let logger: Logger = {
    var logger = Logger(label: "controlroom-bench")
    logger.logLevel = .critical
    return logger
}()
let arguments = CommandLine.arguments
let postgresText = arguments.firstIndex(of: "--postgres").flatMap {
    arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil
}
let devices = 50
let batchRecords = 100
let batches = Int(ProcessInfo.processInfo.environment["CONTROLROOM_BENCH_BATCHES"] ?? "") ?? 200
let singles = Int(ProcessInfo.processInfo.environment["CONTROLROOM_BENCH_SINGLES"] ?? "") ?? 12000
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("controlroom-bench-\(getpid())").path

/// Prints a line at once (unbuffered), so figures show up as they are measured even when the output is a file.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func percentile(_ values: [Duration], _ p: Double) -> Duration {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func ms(_ duration: Duration) -> String { String(format: "%.2f ms", Double(duration.nanosecondsClamped) / 1e6) }

func seconds(_ duration: Duration) -> Double { Double(duration.nanosecondsClamped) / 1e9 }

func now() -> RecordTime { RecordTime.systemNow() }

/// One device's signed stream, sealed ahead of time (signing is the box's cost, not the control room's).
struct Stream: Sendable {
    let key: DeviceKey
    var records: [String] = []

    init(count: Int) throws {
        key = DeviceKey.generate()
        let signer = RecordSigner(key: key)
        var previous: String?
        for index in 1...count {
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(),
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index)),
                timeSource: .gnss, fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 900),
                body: .position)
            let sealed = try signer.seal(
                Record(device: key.identity.deviceID, sequence: Int64(index), previousHash: previous, draft: draft))
            previous = sealed.hash
            records.append(sealed.envelope)
        }
    }
}

/// Signed request bodies: each batch with its proof, encoded as the box sends it.
func bodies(_ streams: [Stream], per request: Int) throws -> [ByteBuffer] {
    var result: [ByteBuffer] = []
    let encoder = JSONEncoder()
    let time = now()
    let longest = streams.map(\.records.count).max() ?? 0
    // Interleaved across devices, each device's records in order.
    for start in stride(from: 0, to: longest, by: request) {
        for stream in streams where start < stream.records.count {
            let slice = Array(stream.records[start..<min(stream.records.count, start + request)])
            let batch = try BatchSigner(key: stream.key).sign(
                RecordBatch(device: stream.key.identity.deviceID, envelopes: slice), time: time)
            result.append(ByteBuffer(bytes: try encoder.encode(batch)))
        }
    }
    return result
}

/// Posts `bodies` with AsyncHTTPClient, `concurrency` requests in flight; returns the wall time and each request's
/// latency.
func post(_ bodies: [ByteBuffer], to base: String, concurrency: Int) async throws -> (Duration, [Duration]) {
    // Its own client: the shared one keeps at most 8 connections to a host, which would cap the requests in flight.
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
        idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    defer { _ = client.shutdown() }
    let clock = ContinuousClock()
    let start = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var mine: [Duration] = []
                for index in stride(from: worker, to: bodies.count, by: concurrency) {
                    var request = HTTPClientRequest(url: base + "/v1/records")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(bodies[index])
                    let began = clock.now
                    let response = try await client.execute(request, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 22)
                    guard response.status == .ok else { throw BenchError("HTTP \(response.status.code)") }
                    mine.append(began.duration(to: clock.now))
                }
                return mine
            }
        }
        var all: [Duration] = []
        for try await part in group { all += part }
        return all
    }
    return (start.duration(to: clock.now), latencies)
}

/// Runs `body`; returns the wall time it took beside its result.
func timed<T>(_ body: () async throws -> T) async rethrows -> (Duration, T) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await body()
    return (start.duration(to: clock.now), result)
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs the two intake figures against a control room over `store`.
func intake(_ name: String, _ store: any ControlRoomStore) async throws {
    let room = ControlRoom(store: store, key: DeviceKey.generate(), logger: logger)
    // 20 devices with whole batches of 100 each; 50 devices sending one record per request.
    let batchDevices = 20
    let batched = try (0..<batchDevices).map { _ in
        try Stream(count: max(1, batches / batchDevices) * batchRecords)
    }
    let single = try (0..<devices).map { _ in try Stream(count: max(1, singles / devices)) }
    // The same load again from other devices, sent with AsyncHTTPClient: the peer for the load generator's cost.
    let peerSingles = singles
    let singleByClient = try (0..<devices).map { _ in try Stream(count: max(1, peerSingles / devices)) }
    for stream in batched + single + singleByClient {
        try await room.addDevice(id: stream.key.identity.deviceID, publicKey: stream.key.identity.jwk)
    }
    let (ports, sink) = AsyncStream<Int>.makeStream()
    let app = ControlRoomServer.application(
        controlRoom: room, host: "127.0.0.1", port: 0, installDesk: Desk(room: room).installer(), logger: logger,
        onRunning: { sink.yield($0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let base = "http://127.0.0.1:\(port)"
        let batchBodies = try bodies(batched, per: batchRecords)
        let (batchTime, batchLatencies) = try await timed {
            try await LoadClient.post(batchBodies, host: "127.0.0.1", port: port, path: "/v1/records", connections: 8)
        }
        let records = batched.reduce(0) { $0 + $1.records.count }
        say(
            "\(name): \(records) records in \(batchBodies.count) batches of \(batchRecords), 8 in flight: "
                + String(format: "%.0f verified records/s", Double(records) / seconds(batchTime))
                + "; batch p50 \(ms(percentile(batchLatencies, 0.5))), p99 \(ms(percentile(batchLatencies, 0.99)))")
        let singleBodies = try bodies(single, per: 1)
        let (singleTime, singleLatencies) = try await timed {
            try await LoadClient.post(singleBodies, host: "127.0.0.1", port: port, path: "/v1/records", connections: 64)
        }
        say(
            "\(name): \(singleBodies.count) single-record requests, 64 in flight: "
                + String(format: "%.0f requests/s", Double(singleBodies.count) / seconds(singleTime))
                + "; p50 \(ms(percentile(singleLatencies, 0.5))), p99 \(ms(percentile(singleLatencies, 0.99)))")
        let peerBodies = try bodies(singleByClient, per: 1)
        let (peerTime, peerLatencies) = try await post(peerBodies, to: base, concurrency: 64)
        say(
            "\(name): \(peerBodies.count) single-record requests, 64 in flight, sent with AsyncHTTPClient: "
                + String(format: "%.0f requests/s", Double(peerBodies.count) / seconds(peerTime))
                + "; p50 \(ms(percentile(peerLatencies, 0.5))), p99 \(ms(percentile(peerLatencies, 0.99)))")
        let sent = records + singleBodies.count + peerBodies.count
        let stored = try await room.recordCount()
        if stored != sent { say("\(name): WARNING stored \(stored) records, sent \(sent)") }
        group.cancelAll()
    }
}

/// `openssl speed -seconds 3 ed25519`: Ed25519 verifications per second on one core.
func opensslVerifyRate() -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl", "speed", "-seconds", "3", "ed25519"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return "openssl not found" }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    // " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  46000.0  16000.0"
    guard let line = text.split(separator: "\n").first(where: { $0.contains("Ed25519") && $0.contains("bits") }) else {
        return "no Ed25519 line in openssl's output"
    }
    let fields = line.split(separator: " ").compactMap { Double($0) }
    guard fields.count >= 2 else { return String(line) }
    return String(format: "%.0f sign/s, %.0f verify/s (one core)", fields[fields.count - 2], fields[fields.count - 1])
}

/// Raw SQLite inserts into a records-shaped table, 100 rows per transaction, WAL, synchronous = FULL.
func sqliteInsertRate() throws -> Double {
    let connection = try SQLiteConnection(path: directory + "/raw.db")
    try connection.execute("PRAGMA journal_mode = WAL")
    try connection.execute("PRAGMA synchronous = FULL")
    try connection.execute(
        "CREATE TABLE r(device TEXT, seq INTEGER, uuid TEXT, envelope TEXT, PRIMARY KEY(device, seq))")
    let envelope = String(repeating: "x", count: 700)
    let clock = ContinuousClock()
    let start = clock.now
    let rows = 20_000
    for block in 0..<(rows / 100) {
        try connection.transaction {
            let insert = try connection.statement("INSERT INTO r VALUES(?1, ?2, ?3, ?4)")
            for index in 0..<100 {
                try insert.bind([
                    .text("pb-bench"), .integer(Int64(block * 100 + index)), .text(UUID().uuidString), .text(envelope),
                ]).run()
            }
        }
    }
    return Double(rows) / seconds(start.duration(to: clock.now))
}

/// Raw PostgreSQL inserts into a records-shaped table, 100 rows per transaction (one unnest INSERT), 8 clients.
func postgresInsertRate(_ store: PostgresControlRoomStore) async throws -> Double {
    try await store.client.query(
        "CREATE TABLE raw(device TEXT, seq BIGINT, uuid TEXT, envelope TEXT, PRIMARY KEY(device, seq))")
    let envelope = String(repeating: "x", count: 700)
    let clock = ContinuousClock()
    let start = clock.now
    let rows = 20_000
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<8 {
            group.addTask {
                for block in stride(from: worker, to: rows / 100, by: 8) {
                    let seqs = (0..<100).map { Int64(block * 100 + $0) }
                    let ids = seqs.map { _ in UUID().uuidString }
                    let envelopes = Array(repeating: envelope, count: 100)
                    _ = try await store.client.withTransaction(logger: logger) { connection in
                        try await connection.query(
                            """
                            INSERT INTO raw SELECT 'pb-bench', s, u, e
                            FROM unnest(\(seqs)::bigint[], \(ids)::text[], \(envelopes)::text[]) AS t(s, u, e)
                            """, logger: logger)
                    }
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(rows) / seconds(start.duration(to: clock.now))
}

try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
say(
    "controlroom-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, load \(String((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.prefix(14) ?? "?"))"
)
say("peer: openssl speed ed25519: \(opensslVerifyRate())")
say(
    String(
        format: "peer: SQLite raw inserts (100 per transaction, WAL, synchronous=FULL): %.0f rows/s",
        try sqliteInsertRate()))
try await intake("SQLite", try SQLiteControlRoomStore(path: directory + "/cr.db"))
if let postgresText {
    let server = try PostgresURL(postgresText)
    let name = "pb_bench_\(getpid())"
    try await PostgresControlRoomStore.createDatabase(name, server: server, logger: logger)
    do {
        try await PostgresControlRoomStore.with(url: server.with(database: name), logger: logger) { store in
            say(
                String(
                    format: "peer: PostgreSQL raw inserts (100 per transaction, 8 clients): %.0f rows/s",
                    try await postgresInsertRate(store)))
            try await intake("PostgreSQL", store)
        }
    } catch {
        say("PostgreSQL: \(error)")
    }
    try await PostgresControlRoomStore.dropDatabase(name, server: server, logger: logger)
} else {
    say("PostgreSQL: skipped (no --postgres URL)")
}
