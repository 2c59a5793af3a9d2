// desk-bench fleet: the desk at a state's scale. A release `controlroom serve` (its own process, SQLite) with 10,000
// registered devices takes 1,000 single-record requests/s (each device a position every 10 s, one emergency a
// second among them) while 0, 1, 10 and 50 logged-in operators hold the desk's push stream open and fetch the
// device table's first page every 5 s, as the page does, and the fleet map's vehicles: all at the start, then those
// that moved since the cursor, every 10 s. Per phase: intake rate, p50/p99/max and failures, beside a
// peer measured in the same phase (GET /v1/identity, no desk work); the desk's own page fetch; the server's CPU
// (from /proc); bytes per stream (first message, then per second). Prints figures; asserts nothing.
import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import PanicCore
import PanicSQLite
import PanicSigning
import Synchronization

enum FleetBench {
    struct Settings {
        var devices = 10_000
        var rate = 1000
        var seconds = 10
        var operators = [0, 1, 10, 50]
        var alertsPerSecond = 1

        init(_ environment: [String: String]) {
            if let value = environment["DESK_BENCH_DEVICES"].flatMap({ Int($0) }) { devices = value }
            if let value = environment["DESK_BENCH_RATE"].flatMap({ Int($0) }) { rate = value }
            if let value = environment["DESK_BENCH_SECONDS"].flatMap({ Int($0) }) { seconds = value }
            if let value = environment["DESK_BENCH_OPERATORS"] {
                operators = value.split(separator: ",").compactMap { Int($0) }
            }
        }
    }

    /// Latencies and failures of one kind of request, collected by many tasks.
    final class Samples: Sendable {
        private let state = Mutex<(latencies: [Duration], failures: Int)>(([], 0))
        func add(_ latency: Duration) { state.withLock { $0.latencies.append(latency) } }
        func fail() { state.withLock { $0.failures += 1 } }
        var latencies: [Duration] { state.withLock { $0.latencies } }
        var failures: Int { state.withLock { $0.failures } }

        /// "p50 / p99" (and max), or "none".
        func summary(max showMax: Bool = false) -> String {
            let values = latencies
            guard !values.isEmpty else { return "none" }
            return "\(ms(percentile(values, 0.5))) / \(ms(percentile(values, 0.99)))"
                + (showMax ? " / \(ms(values.max() ?? .zero))" : "")
        }
    }

    /// Bytes received, added from several tasks.
    final class ByteCount: Sendable {
        private let bytes = Mutex(0)
        func add(_ count: Int) { bytes.withLock { $0 += count } }
        var total: Int { bytes.withLock { $0 } }
    }

    /// Bytes and events one push stream received: its first message (up to the first blank line), then the rest.
    final class StreamCount: Sendable {
        private let state = Mutex<(first: Int, done: Bool, bytes: Int, events: Int)>((0, false, 0, 0))
        func add(_ text: String, bytes count: Int) {
            state.withLock {
                if $0.done {
                    $0.bytes += count
                } else {
                    $0.first += count
                    $0.done = text.contains("\n\n")
                }
                $0.events += text.components(separatedBy: "event: alerts").count - 1
            }
        }
        var figures: (first: Int, bytes: Int, events: Int) { state.withLock { ($0.first, $0.bytes, $0.events) } }
    }

    /// The cursor and `more` of a fleet-map page, read from its head: the keys are sorted, so the answer starts
    /// `{"cursor":C,"more":B,"vehicles":[`. The operators' browsers are other machines; parsing 10,000 vehicles
    /// here would spend the bench's own CPU on the cores the server is measured on.
    static func vehiclesHead(_ body: ByteBuffer) -> (cursor: Int64, more: Bool)? {
        let head = String(decoding: body.readableBytesView.prefix(96), as: UTF8.self)
        guard let end = head.range(of: #","vehicles":["#),
            let object = try? JSONSerialization.jsonObject(with: Data((head[..<end.lowerBound] + "}").utf8))
                as? [String: Any],
            let cursor = (object["cursor"] as? NSNumber)?.int64Value, let more = object["more"] as? Bool,
            body.readableBytesView.last == UInt8(ascii: "}")
        else { return nil }
        return (cursor, more)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// This process's CPU time (user + system): the bench's own share of the two cores.
    static func ownCPU() -> Duration { cpu(of: getpid()) }

    /// The server process's CPU time (user + system), from /proc.
    static func cpu(of pid: Int32) -> Duration {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return .zero }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        let ticks = (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        return .milliseconds(ticks * 1000 / Int(sysconf(Int32(_SC_CLK_TCK))))
    }

    static func run() async throws {
        let settings = Settings(ProcessInfo.processInfo.environment)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/cr.db"
        let keyPath = directory + "/controlroom.key"
        try DeviceKey.generate().write(to: keyPath, force: true)

        // The fleet, registered in one transaction (the registry's own table), and 50 operators with sessions.
        let started = ContinuousClock.now
        let keys = (0..<settings.devices).map { _ in DeviceKey.generate() }
        var cookies: [String] = []
        do {
            let room = try ControlRoom(path: database, key: DeviceKey.generate(), logger: logger)
            let desk = Desk(room: room)
            for index in 0..<(settings.operators.max() ?? 0) {
                let name = "operator\(index)"
                try await room.addUser(name: name, role: .operator, password: "bench password \(index)", cost: 4)
                let account = try await room.account(name: name)
                cookies.append("pb_session=" + (try await desk.sessions.start(account!)).id)
            }
        }
        let connection = try SQLiteConnection(path: database)
        try connection.transaction {
            let insert = try connection.statement("INSERT INTO devices(id, kid, jwk) VALUES(?1, ?2, ?3)")
            for key in keys {
                try insert.bind([.text(key.identity.deviceID), .text(key.identity.thumbprint), .text(key.identity.jwk)])
                try insert.run()
            }
        }

        // Every request of every phase, signed up front (the client's CPU stays out of the timed part): request i
        // comes from device i % devices; every rate/alertsPerSecond-th one is an emergency, the rest positions.
        let perPhase = settings.rate * settings.seconds
        let total = perPhase * settings.operators.count
        var previous = [String?](repeating: nil, count: keys.count)
        var sequences = [Int64](repeating: 0, count: keys.count)
        var bodies: [ByteBuffer] = []
        bodies.reserveCapacity(total)
        let alertEvery = max(1, settings.rate / max(1, settings.alertsPerSecond))
        let now = RecordTime.systemNow().epochMilliseconds
        for index in 0..<total {
            let device = index % keys.count
            sequences[device] += 1
            let draft = RecordDraft(
                id: UUID().uuidString.lowercased(), time: RecordTime(epochMilliseconds: now + Int64(index)),
                timeSource: .gnss,
                fix: RecordFix(
                    latitude: 26.9 + Double(device % 100) / 1000, longitude: 75.8 + Double(index % 1000) / 10_000,
                    ageMilliseconds: 900),
                body: index % alertEvery == alertEvery - 1 ? .emergency(input: "panic-1") : .position)
            let sealed = try RecordSigner(key: keys[device]).seal(
                Record(
                    device: keys[device].identity.deviceID, sequence: sequences[device],
                    previousHash: previous[device], draft: draft))
            previous[device] = sealed.hash
            bodies.append(
                ByteBuffer(
                    bytes: try JSONEncoder().encode(
                        RecordBatch(device: keys[device].identity.deviceID, envelopes: [sealed.envelope]))))
        }
        say(
            "desk-bench fleet: \(settings.devices) devices, \(settings.rate) single-record requests/s for "
                + "\(settings.seconds) s per phase (an emergency every \(alertEvery) requests), operators "
                + "\(settings.operators.map(String.init).joined(separator: "/")); set up in "
                + "\(ms(ContinuousClock.now - started))")

        // The server: a release `controlroom serve` beside this binary, on its own port.
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("controlroom").path
        let port = 20_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = ["serve", "--db", database, "--key", keyPath, "--listen", "127.0.0.1:\(port)"]
        let output = Pipe()
        server.standardOutput = output
        server.standardError = output
        let (lines, sink) = AsyncStream<String>.makeStream()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { sink.finish() } else { sink.yield(String(decoding: data, as: UTF8.self)) }
        }
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        var seen = ""
        for await chunk in lines {
            seen += chunk
            if seen.contains("control room listening") { break }
        }
        guard seen.contains("control room listening") else {
            say("controlroom serve did not start:\n\(seen)")
            return
        }
        // Keep draining its output (a full pipe would stop it).
        let drain = Task { for await _ in lines {} }
        defer { drain.cancel() }
        let base = "http://127.0.0.1:\(port)"

        var intakeConfiguration = HTTPClient.Configuration()
        intakeConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        let intakeClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: intakeConfiguration)
        var deskConfiguration = HTTPClient.Configuration()
        deskConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        let deskClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: deskConfiguration)

        say(
            "| operators | intake req/s | intake p50 / p99 / max | failed | peer GET /v1/identity p50 / p99 | "
                + "desk page GET /v1/desk/health?limit=100 p50 / p99 | fleet map GET /v1/desk/vehicles p50 / p99, KB | "
                + "server CPU | bench CPU | stream first msg | stream bytes/s |"
        )
        say("|---|---|---|---|---|---|---|---|---|---|---|")
        for (phase, operators) in settings.operators.enumerated() {
            let intake = Samples()
            let peer = Samples()
            let pages = Samples()
            let vehicles = Samples()
            let vehicleBytes = ByteCount()
            let counts = (0..<operators).map { _ in StreamCount() }
            let cpuBefore = cpu(of: server.processIdentifier)
            let ownBefore = ownCPU()
            let clock = ContinuousClock()
            var elapsed = Duration.zero
            try await withThrowingTaskGroup(of: Void.self) { desk in
                // The operators: a push stream each, and the device table's first page every 5 s.
                for (index, count) in counts.enumerated() {
                    let cookie = cookies[index]
                    desk.addTask {
                        var request = HTTPClientRequest(url: base + "/v1/desk/events")
                        request.headers.add(name: "Cookie", value: cookie)
                        let response = try await deskClient.execute(request, timeout: .seconds(3600))
                        for try await chunk in response.body {
                            count.add(String(buffer: chunk), bytes: chunk.readableBytes)
                        }
                    }
                    // The fleet map: the whole fleet on opening, then what moved since the cursor every 10 s.
                    desk.addTask {
                        let start = clock.now + .milliseconds(10_000 * index / max(1, operators))
                        var cursor: Int64 = 0
                        for round in 0... {
                            try await clock.sleep(until: start + .seconds(10 * round))
                            var more = true
                            while more {
                                var request = HTTPClientRequest(url: base + "/v1/desk/vehicles?after=\(cursor)")
                                request.headers.add(name: "Cookie", value: cookie)
                                let sent = clock.now
                                more = false
                                do {
                                    let response = try await deskClient.execute(request, timeout: .seconds(30))
                                    let body = try await response.body.collect(upTo: 16 << 20)
                                    let latency = sent.duration(to: clock.now)
                                    guard response.status == .ok, let (next, further) = Self.vehiclesHead(body)
                                    else {
                                        vehicles.fail()
                                        break
                                    }
                                    vehicles.add(latency)
                                    vehicleBytes.add(body.readableBytes)
                                    cursor = next
                                    more = further
                                } catch is CancellationError { return } catch { vehicles.fail() }
                            }
                        }
                    }
                    desk.addTask {
                        let start = clock.now + .milliseconds(5000 * index / max(1, operators))
                        for round in 0... {
                            try await clock.sleep(until: start + .seconds(5 * round))
                            var request = HTTPClientRequest(url: base + "/v1/desk/health?limit=100")
                            request.headers.add(name: "Cookie", value: cookie)
                            let sent = clock.now
                            do {
                                let response = try await deskClient.execute(request, timeout: .seconds(30))
                                _ = try await response.body.collect(upTo: 16 << 20)
                                if response.status == .ok {
                                    pages.add(sent.duration(to: clock.now))
                                } else {
                                    pages.fail()
                                }
                            } catch is CancellationError { return } catch { pages.fail() }
                        }
                    }
                }
                // The peer: a route with no desk work, 20 times a second.
                desk.addTask {
                    let start = clock.now
                    for round in 0... {
                        try await clock.sleep(until: start + .milliseconds(50 * round))
                        let sent = clock.now
                        do {
                            let response = try await intakeClient.execute(
                                HTTPClientRequest(url: base + "/v1/identity"), timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            if response.status == .ok { peer.add(sent.duration(to: clock.now)) } else { peer.fail() }
                        } catch is CancellationError { return } catch { peer.fail() }
                    }
                }
                // The fleet: open loop, each request at its own time whether or not earlier ones were answered; its
                // latency counts from that time (a late send is the server's delay too).
                let start = clock.now
                try await withThrowingTaskGroup(of: Void.self) { fleet in
                    for index in 0..<perPhase {
                        let due = start + .microseconds(Int64(index) * 1_000_000 / Int64(settings.rate))
                        try await clock.sleep(until: due)
                        let body = bodies[phase * perPhase + index]
                        fleet.addTask {
                            var post = HTTPClientRequest(url: base + "/v1/records")
                            post.method = .POST
                            post.headers.add(name: "Content-Type", value: "application/json")
                            post.body = .bytes(body)
                            do {
                                let response = try await intakeClient.execute(post, timeout: .seconds(30))
                                _ = try await response.body.collect(upTo: 1 << 20)
                                if response.status == .ok {
                                    intake.add(due.duration(to: clock.now))
                                } else {
                                    intake.fail()
                                }
                            } catch { intake.fail() }
                        }
                    }
                    try await fleet.waitForAll()
                }
                elapsed = start.duration(to: clock.now)
                desk.cancelAll()
            }
            let cpuUsed = cpu(of: server.processIdentifier) - cpuBefore
            let ownUsed = ownCPU() - ownBefore
            let seconds = Self.seconds(elapsed)
            let answered = intake.latencies.count
            let figures = counts.map(\.figures)
            let first =
                figures.isEmpty
                ? "—"
                : String(format: "%.1f KB", Double(figures.map(\.first).reduce(0, +)) / Double(figures.count) / 1024)
            let perSecond =
                figures.isEmpty
                ? "—"
                : String(
                    format: "%.1f KB/s",
                    Double(figures.map(\.bytes).reduce(0, +)) / Double(figures.count) / seconds / 1024)
            let cpuSeconds = Self.seconds(cpuUsed)
            say(
                "| \(operators) | \(String(format: "%.0f", Double(answered) / seconds)) | \(intake.summary(max: true)) | "
                    + "\(intake.failures) | \(peer.summary()) | \(operators == 0 ? "—" : pages.summary()) | "
                    + "\(operators == 0 ? "—" : vehicles.summary() + String(format: ", %.0f KB", Double(vehicleBytes.total) / 1024)) | "
                    + "\(String(format: "%.0f %%", cpuSeconds / seconds * 100)) | "
                    + "\(String(format: "%.0f %%", Self.seconds(ownUsed) / seconds * 100)) | \(first) | \(perSecond) |")
        }
        try await intakeClient.shutdown()
        try await deskClient.shutdown()
    }
}
