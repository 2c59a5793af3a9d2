import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

/// Keeps the lines logged at info or above, with their level and metadata (`warnings`: what reaches the disk on a
/// box).
final class KeepingLogHandler: LogHandler, Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }
    let lines = Mutex<[Line]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}  // swift-format-ignore
    }
    var logLevel: Logger.Level {
        get { .info }
        set {}  // swift-format-ignore
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}  // swift-format-ignore
    }
    func log(event: LogEvent) {
        let line = Line(
            level: event.level, message: "\(event.message)", metadata: (event.metadata ?? [:]).mapValues { "\($0)" })
        lines.withLock { $0.append(line) }
    }
    /// The lines at warning or above.
    var warnings: [Line] { lines.withLock { $0.filter { $0.level >= .warning } } }
}

/// A hostile backend on loopback (a second backend, or anyone on the path of an `http://` one): it takes every
/// record and answers each request with `forged` commands that name the pinned control-room key but whose
/// signatures do not verify, so each costs the box a full signature check.
final class HostileBackend: Sendable {
    let forgedCommands: Data
    let answers = Mutex(0)
    let served: AsyncStream<Int>
    private let servedSink: AsyncStream<Int>.Continuation

    init(forged count: Int, controlRoomKey: DeviceKey, deviceID: String) throws {
        let command = ControlCommand(
            action: .clear, device: deviceID, alert: "none", nonce: "n", issued: RecordTime(epochMilliseconds: 0),
            expires: RecordTime(epochMilliseconds: Int64.max / 2))
        var parts = try CommandSigner(key: controlRoomKey).sign(command).split(separator: ".").map(String.init)
        parts[2] = String(parts[2].reversed())
        let forged = "\"" + parts.joined(separator: ".") + "\""
        forgedCommands = Data(("[" + Array(repeating: forged, count: count).joined(separator: ",") + "]").utf8)
        (served, servedSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    func run<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/records") { request, context -> Response in
            let batch = try await request.decode(as: RecordBatch.self, context: context)
            let results = RecordBatchResponse(
                results: batch.envelopes.map { _ in RecordResult(status: .accepted) }, alerts: [], commands: [])
            // The answer's own JSON with the forged commands spliced in.
            var json = try JSONEncoder().encode(results)
            let marker = Data("\"commands\":[]".utf8)
            guard let range = json.range(of: marker) else { throw HTTPError(.internalServerError) }
            json.replaceSubrange(range, with: Data("\"commands\":".utf8) + self.forgedCommands)
            let number = self.answers.withLock { count in
                count += 1
                return count
            }
            self.servedSink.yield(number)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(data: json)))
        }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) }, logger: quietLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        }
    }
}

@Suite("A hostile backend's answers cannot freeze the box", .timeLimit(.minutes(2)))
struct HostileAnswerTests {
    /// 150,000 forged commands (55 MB, the attack as reported: refused unread as too long) and 1,500 (under the
    /// size cap: decoded, 32 checked, the rest left unchecked).
    @Test(
        "a press during a flood of forged commands is handled; one log line per answer",
        arguments: [150_000, 1_500])
    func pressDuringFlood(forged: Int) async throws {
        let directory = try TemporaryDirectory()
        let device = try TestDevice(directory: directory.path)
        let log = KeepingLogHandler()
        let logger = Logger(label: "box") { _ in log }
        try await withControlRoom(directory: directory.path) { server in
            try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
            let hostile = try HostileBackend(forged: forged, controlRoomKey: server.key, deviceID: device.id)
            try await hostile.run { hostileURL in
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id, signingKey: device.key,
                    backends: [
                        .init(name: "cr", url: server.url, controlRoomKey: server.key.identity),
                        .init(
                            name: "rogue", url: hostileURL, controlRoomKey: server.key.identity,
                            pollInterval: .milliseconds(50)),
                    ],
                    clock: SystemMonotonicClock(), seed: 3, logger: logger)
                var transitions = uplink.alerts.transitions.makeAsyncIterator()
                var served = hostile.served.makeAsyncIterator()
                func sent(_ alert: String) async -> Bool {
                    while let transition = await transitions.next() {
                        if transition.alert == alert, transition.to == .sent { return true }
                    }
                    return false
                }
                try await withUplink(uplink) {
                    // The first press opens an alert: from then on the rogue backend is polled and floods the box.
                    let first = emergency(at: Uplink.systemWallClock())
                    try uplink.submit(first)
                    #expect(await sent(first.id))
                    _ = await served.next()
                    _ = await served.next()
                    // A press while the flood goes on.
                    let start = ContinuousClock.now
                    let second = emergency(at: Uplink.systemWallClock())
                    try uplink.submit(second)
                    #expect(await sent(second.id))
                    let latency = ContinuousClock.now - start
                    // The flood went on around it: the rogue answered again after the press was shown sent.
                    let before = hostile.answers.withLock { $0 }
                    while let number = await served.next(), number <= before {}
                    let lines = log.warnings
                    let answers = hostile.answers.withLock { $0 }
                    print(
                        "[hostile answer] \(forged) forged commands per answer: press shown sent after \(latency); "
                            + "\(answers) hostile answers, \(lines.count) log lines at warning or above")
                    #expect(latency < .seconds(1), "the press waited behind the hostile answers")
                    // One line per answer at most (plus the fault's own lines), never one per command.
                    #expect(lines.count <= answers + 8)
                    let checked = lines.compactMap { $0.metadata["checked"].flatMap { Int($0) } }
                    #expect(checked.allSatisfy { $0 <= RecordBatchResponse.maximumCommands })
                    if hostile.forgedCommands.count < RecordBatchResponse.maximumBytes - 4096 {
                        // Decoded: the budget was applied and said so.
                        #expect(lines.contains { $0.metadata["unchecked"] == "\(forged - 32)" })
                    } else {
                        // Refused unread.
                        let failures = log.lines.withLock { $0.compactMap { $0.metadata["error"] } }
                        #expect(failures.contains { $0.contains("longer than the 1048576 bytes an answer may be") })
                    }
                }
            }
        }
    }
}

@Suite("A hostile backend's words are quoted in the box's log", .timeLimit(.minutes(1)))
struct HostileWordsTests {
    @Test("a refusal or an answer carrying a line end and an escape sequence reaches the log escaped")
    func refusalQuoted() async throws {
        let forged = "no\n2026-12-07T00:00:00+0000 critical panicd : alert cleared\u{1B}[2K"
        let router = Router()
        router.post("/refuse/v1/records") { _, _ -> Response in
            let body = try JSONEncoder().encode(["error": forged])
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(data: body)))
        }
        router.post("/garble/v1/records") { _, _ -> Response in
            let body =
                #"{"results":[{"status":"\#(forged.replacingOccurrences(of: "\n", with: "\\n"))"}],"alerts":[],"commands":[]}"#
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) }, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            for path in ["refuse", "garble"] {
                let transport = HTTPUplinkTransport(baseURL: "http://127.0.0.1:\(port)/\(path)", trust: .system)
                do {
                    _ = try await transport.send(RecordBatch(device: "d", envelopes: []), timeout: .seconds(10))
                    Issue.record("the \(path) answer was taken")
                } catch {
                    let text = UplinkTransportError.describe(error)
                    if path == "refuse" {
                        #expect(text.contains(#"critical panicd : alert cleared\u{1b}[2K"#), "\(text)")
                    }
                    #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(text)")
                }
                try await transport.shutdown()
            }
            group.cancelAll()
        }
    }
}
