// desk-bench: push latency of the operator desk. A device posts an emergency to /v1/records on loopback; the clock
// stops when the alert's row arrives on a logged-in desk's event stream (/v1/desk/events). 100 alerts, one at a
// time, with p50/p99. Prints figures; asserts nothing (timings belong here, not in tests).
import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import PanicCore
import PanicSigning
import Synchronization

let logger: Logger = {
    var logger = Logger(label: "desk-bench")
    logger.logLevel = .critical
    return logger
}()
let clock = SystemMonotonicClock()
let count = Int(ProcessInfo.processInfo.environment["DESK_BENCH_ALERTS"] ?? "") ?? 100
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("desk-bench-\(getpid())").path

/// A flag two tasks share: set while the attack runs.
final class ManagedAtomicFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    func clear() { value.withLock { $0 = false } }
    var isSet: Bool { value.withLock { $0 } }
}

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func percentile(_ values: [Duration], _ p: Double) -> Duration {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func ms(_ duration: Duration) -> String {
    let parts = duration.components
    return String(format: "%.2f ms", Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15)
}

@main
enum DeskBench {
    static func main() async throws {
        if CommandLine.arguments.dropFirst().first == "login" {
            let requests = Int(ProcessInfo.processInfo.environment["LOGIN_BENCH_REQUESTS"] ?? "") ?? 300
            try await LoginBench.run(requests: requests)
            return
        }
        if CommandLine.arguments.dropFirst().first == "fleet" {
            try await FleetBench.run()
            return
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let room = try ControlRoom(path: directory + "/cr.db", key: DeviceKey.generate(), logger: logger)
        let key = DeviceKey.generate()
        let device = key.identity.deviceID
        try await room.addDevice(id: device, publicKey: key.identity.jwk)
        try await room.editDevice(id: device, DeviceMetadataEdit(name: "Bus 534", registration: "DL 1PC 4521"))
        try await room.addUser(name: "bench", role: .operator, password: "bench password", cost: 4)
        let token =
            try await room.addUser(
                name: "automation", role: .operator, password: "automation password", token: true, cost: 4) ?? ""
        let desk = Desk(room: room)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = try ControlRoomServer.application(
            desk: desk, host: "127.0.0.1", port: 0, logger: logger, onRunning: { sink.yield($0) })
        say(
            "desk-bench: \(count) emergencies posted to /v1/records on loopback, each timed until its row arrives "
                + "on the desk's event stream (one device, one logged-in desk)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            let base = "http://127.0.0.1:\(port)"
            var login = HTTPClientRequest(url: base + "/v1/session")
            login.method = .POST
            login.headers.add(name: "Content-Type", value: "application/json")
            login.body = .bytes(ByteBuffer(string: #"{"name":"bench","password":"bench password"}"#))
            let answer = try await HTTPClient.shared.execute(login, timeout: .seconds(10))
            let cookie = String(answer.headers.first(name: "Set-Cookie")?.split(separator: ";").first ?? "")
            var events = HTTPClientRequest(url: base + "/v1/desk/events")
            events.headers.add(name: "Cookie", value: cookie)
            let stream = try await HTTPClient.shared.execute(events, timeout: .seconds(600))
            var body = stream.body.makeAsyncIterator()
            var buffer = ""
            // The snapshot first.
            while !buffer.contains("\n\n") { buffer += String(buffer: try await body.next() ?? ByteBuffer()) }
            buffer = ""
            let signer = RecordSigner(key: key)
            var previous: String?
            var latencies: [Duration] = []
            for sequence in 1...count {
                let draft = RecordDraft(
                    id: UUID().uuidString.lowercased(), time: RecordTime.systemNow(), timeSource: .system,
                    fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 900),
                    body: .emergency(input: "panic-1"))
                let sealed = try signer.seal(
                    Record(device: device, sequence: Int64(sequence), previousHash: previous, draft: draft))
                previous = sealed.hash
                var post = HTTPClientRequest(url: base + "/v1/records")
                post.method = .POST
                post.headers.add(name: "Content-Type", value: "application/json")
                post.body = .bytes(
                    ByteBuffer(
                        bytes: try JSONEncoder().encode(RecordBatch(device: device, envelopes: [sealed.envelope]))))
                let start = clock.now
                _ = try await HTTPClient.shared.execute(post, timeout: .seconds(10))
                while !buffer.contains(draft.id) { buffer += String(buffer: try await body.next() ?? ByteBuffer()) }
                latencies.append(start.duration(to: clock.now))
                buffer = ""
            }
            say(
                "push latency (POST sent → row received), \(count) alerts (the open list grows to \(count)): "
                    + "p50 \(ms(percentile(latencies, 0.5))), p99 \(ms(percentile(latencies, 0.99))), "
                    + "max \(ms(latencies.max() ?? .zero))")
            // Operator polls while a hostile client posts forged batches (signatures that do not verify under the
            // device's key), beside the same polls with nobody attacking: what one hostile client costs the desk.
            func poll() async throws -> Duration {
                var request = HTTPClientRequest(url: base + "/v1/alerts")
                request.headers.add(name: "Authorization", value: "Bearer " + token)
                let start = clock.now
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 8 << 20)
                return start.duration(to: clock.now)
            }
            var calm: [Duration] = []
            for _ in 0..<200 { calm.append(try await poll()) }
            let genuine = try signer.seal(
                Record(
                    device: device, sequence: Int64(count + 1), previousHash: previous,
                    draft: RecordDraft(
                        id: UUID().uuidString.lowercased(), time: RecordTime.systemNow(), timeSource: .system, fix: nil,
                        body: .position))
            ).envelope
            let parts = genuine.split(separator: ".").map(String.init)
            let forged = parts[0] + "." + parts[1] + "." + Base64URL.encode(Data(repeating: 7, count: 64))
            func hostileBody(bytes: Int) throws -> Data {
                try JSONEncoder().encode(
                    RecordBatch(
                        device: device, envelopes: Array(repeating: forged, count: bytes / (forged.utf8.count + 3) + 1))
                )
            }
            let bodies = [try hostileBody(bytes: 14 << 20), try hostileBody(bytes: 3_900_000)]
            let attacking = ManagedAtomicFlag()
            let attack = Task {
                defer { attacking.clear() }
                var refused = 0
                for round in 0..<10 {
                    var post = HTTPClientRequest(url: base + "/v1/records")
                    post.method = .POST
                    post.headers.add(name: "Content-Type", value: "application/json")
                    post.body = .bytes(ByteBuffer(bytes: bodies[round % 2]))
                    let response = try await HTTPClient.shared.execute(post, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    if response.status.code == 413 || response.status.code == 422 { refused += 1 }
                }
                return refused
            }
            attacking.set()
            var underAttack: [Duration] = []
            while attacking.isSet { underAttack.append(try await poll()) }
            let refused = try await attack.value
            say(
                "operator poll (GET /v1/alerts), alone: \(calm.count) polls, p50 \(ms(percentile(calm, 0.5))), "
                    + "p99 \(ms(percentile(calm, 0.99))), max \(ms(calm.max() ?? .zero))")
            say(
                "operator poll during 10 forged batches (5 × 14 MiB, 5 × 3.9 MiB; \(refused) refused): "
                    + "\(underAttack.count) polls, p50 \(ms(percentile(underAttack, 0.5))), "
                    + "p99 \(ms(percentile(underAttack, 0.99))), max \(ms(underAttack.max() ?? .zero)) (goal: max ≤ 100 ms)"
            )
            desk.signal.close()
            group.cancelAll()
        }
    }
}
