import Foundation
import PanicCore
import PanicSigning
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension CLISuite {
    /// Two `controlroom serve` processes on one PostgreSQL database, boxes sending to both (each request to the
    /// other instance when one fails, as a box with two control-room addresses would), one instance SIGKILLed
    /// mid-run and restarted: every record is stored exactly once, by identity.
    @Suite(
        "controlroom serve: two instances on one PostgreSQL, one killed mid-run",
        .enabled(
            if: ProcessInfo.processInfo.environment["PANICBRIDGE_TEST_POSTGRES"] != nil
                || ProcessInfo.processInfo.environment["CI"] == "true",
            "needs PANICBRIDGE_TEST_POSTGRES (make postgres-start)"))
    struct PostgresFailoverTests {
        @Test("50 boxes × 60 records, instance A killed with SIGKILL and restarted: 0 lost, 0 duplicated")
        func killOneInstance() async throws {
            guard let server = ProcessInfo.processInfo.environment["PANICBRIDGE_TEST_POSTGRES"] else {
                Issue.record("PANICBRIDGE_TEST_POSTGRES is not set: run `make postgres-start` (make test does)")
                return
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-failover-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let name = "pb_failover_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try Self.psql(server, "CREATE DATABASE \(name)")
            defer { try? Self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
            let url = Self.replacingDatabase(server, with: name)
            let controlroom = Executable("controlroom")
            let key = directory.appendingPathComponent("cr.key").path
            #expect(try controlroom.run(["keygen", "--out", key]).status == 0)
            let boxes = (0..<50).map { _ in DeviceKey.generate() }
            for box in boxes {
                let added = try controlroom.run(
                    ["devices", "add", "--db", url, "--id", box.identity.deviceID, "--key", box.identity.jwk])
                #expect(added.status == 0, "\(added.stderr)")
            }
            let user = try controlroom.run(
                ["users", "add", "--db", url, "--name", "auditor", "--role", "operator", "--token"],
                stdin: Data("auditor password 1\n".utf8))
            let token = try #require(
                user.stdout.split(separator: "\n").first { $0.hasPrefix("token: ") }?.dropFirst(7))
            let ports = [Self.freePort(), Self.freePort()]
            var instances = try ports.map { try ServerProcess(controlroom, db: url, key: key, port: $0, in: directory) }
            defer { for instance in instances { instance.kill() } }
            for port in ports { try await Self.waitUntilServing(port: port) }

            // Each box: 60 records in batches of 5, alternating instances; a failed request goes to the other one.
            let chains = try boxes.map { try Self.chain($0, count: 60) }
            let killed = KillSwitch()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, box) in boxes.enumerated() {
                    group.addTask {
                        for (batch, start) in stride(from: 0, to: 60, by: 5).enumerated() {
                            let envelopes = chains[index][start..<start + 5].map(\.envelope)
                            try await Self.deliver(envelopes, from: box, ports: ports, first: (index + batch) % 2)
                            if index == 0 && batch == 6 { killed.fire() }
                        }
                    }
                }
                // Mid-run (box 0 is half way): SIGKILL instance A, then start it again on its port.
                let victim = instances[0].process.processIdentifier
                group.addTask {
                    await killed.wait()
                    Foundation.kill(victim, SIGKILL)
                }
                try await group.waitForAll()
            }
            instances[0].kill()
            instances[0] = try ServerProcess(controlroom, db: url, key: key, port: ports[0], in: directory)
            try await Self.waitUntilServing(port: ports[0])

            // By identity, from each instance: exactly the records each box signed, each once.
            var lost = 0
            var duplicated = 0
            for port in ports {
                for (index, box) in boxes.enumerated() {
                    let stored = try await Self.identities(
                        port: port, device: box.identity.deviceID, token: String(token))
                    let sent = chains[index].enumerated().map {
                        Identity(sequence: Int64($0.offset + 1), hash: $0.element.hash)
                    }
                    lost += Set(sent).subtracting(stored).count
                    duplicated += stored.count - Set(stored).count + Set(stored).subtracting(sent).count
                }
            }
            #expect(lost == 0)
            #expect(duplicated == 0)
            // The kill was felt: requests to the dead instance went to the other one.
            #expect(Self.failovers.load(ordering: .relaxed) > 0)
            // SIGTERM stops an instance cleanly: the server, the desk feed and the pool, in reverse order.
            for instance in instances {
                instance.process.terminate()
                instance.process.waitUntilExit()
                #expect(instance.process.terminationReason == .exit)
            }
        }

        struct Identity: Codable, Hashable {
            var sequence: Int64
            var hash: String
        }

        static func chain(_ key: DeviceKey, count: Int) throws -> [SealedRecord] {
            let signer = RecordSigner(key: key)
            var previous: String?
            return try (1...count).map { index in
                let draft = RecordDraft(
                    id: UUID().uuidString.lowercased(),
                    time: RecordTime(epochMilliseconds: 1_764_000_000_000 + Int64(index)), timeSource: .gnss,
                    fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 500),
                    body: index == 30 ? .emergency(input: "panic-1") : .position)
                let sealed = try signer.seal(
                    Record(device: key.identity.deviceID, sequence: Int64(index), previousHash: previous, draft: draft))
                previous = sealed.hash
                return sealed
            }
        }

        /// Posts one signed batch, to `ports[first]` and on failure to the other, until one answers every record
        /// (accepted or duplicate) — at least once, as a box does.
        /// Requests that failed (refused connection, reset, lost answer) and went to the other instance.
        static let failovers = Atomic<Int>(0)

        static func deliver(_ envelopes: [String], from key: DeviceKey, ports: [Int], first: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(40)
            var attempt = first
            while ContinuousClock.now < deadline {
                let port = ports[attempt % ports.count]
                attempt += 1
                let batch = try BatchSigner(key: key).sign(
                    RecordBatch(device: key.identity.deviceID, envelopes: envelopes),
                    time: RecordTime(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)))
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/records")!)
                request.httpMethod = "POST"
                request.httpBody = try JSONEncoder().encode(batch)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.timeoutInterval = 5
                guard let (data, response) = try? await URLSession.shared.data(for: request),
                    (response as? HTTPURLResponse)?.statusCode == 200,
                    let answer = try? JSONDecoder().decode(RecordBatchResponse.self, from: data)
                else {
                    failovers.add(1, ordering: .relaxed)
                    continue
                }
                if answer.results.allSatisfy({ $0.status == .accepted || $0.status == .duplicate }) { return }
                Issue.record("records refused: \(answer.results)")
                return
            }
            Issue.record("a batch was not delivered to either instance within 40 s")
        }

        static func identities(port: Int, device: String, token: String) async throws -> [Identity] {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/devices/\(device)/records")!)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            return try JSONDecoder().decode([Identity].self, from: data)
        }

        /// Waits (with a deadline) until the instance on `port` answers.
        static func waitUntilServing(port: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            let url = URL(string: "http://127.0.0.1:\(port)/v1/identity")!
            while ContinuousClock.now < deadline {
                if let (_, response) = try? await URLSession.shared.data(from: url),
                    (response as? HTTPURLResponse)?.statusCode == 200
                {
                    return
                }
                // The server is starting (migrations, pool): ask again shortly.
                try await Task.sleep(for: .milliseconds(50))
            }
            throw FailoverError(description: "controlroom on port \(port) did not answer within 30 s")
        }

        static func psql(_ url: String, _ sql: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw FailoverError(description: "psql failed: \(sql)") }
        }

        static func replacingDatabase(_ url: String, with name: String) -> String {
            var components = URLComponents(string: url)!
            components.path = "/" + name
            return components.string!
        }

        /// A port nothing listens on now (bound and released).
        static func freePort() -> Int {
            let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
            }
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
            }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }
}

struct FailoverError: Error, CustomStringConvertible {
    var description: String
}

/// Fired once by a box half way through; the killer waits on it.
final class KillSwitch: Sendable {
    private let fired = AsyncStream<Void>.makeStream()

    func fire() { fired.continuation.yield() }

    func wait() async {
        for await _ in fired.stream { return }
    }
}

/// `controlroom serve` in the background, its log in a file.
final class ServerProcess {
    let process: Process

    init(_ executable: Executable, db: String, key: String, port: Int, in directory: URL) throws {
        let log = directory.appendingPathComponent("serve-\(port)-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = executable.url
        process.arguments = ["serve", "--db", db, "--key", key, "--listen", "127.0.0.1:\(port)"]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
    }

    /// SIGKILL: no shutdown, no flush, as a power cut or an OOM kill would.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
