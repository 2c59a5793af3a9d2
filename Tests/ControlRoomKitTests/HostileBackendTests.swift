import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import NIOCore
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
        return try await withLoopbackApp(router, body)
    }
}

extension HostileClientTests {
    @Suite("A hostile backend's answers cannot freeze the box", .timeLimit(.minutes(2)))
    struct HostileAnswerTests {
        /// 150,000 forged commands (55 MB, the attack as reported: refused unread as too long) and 1,500 (under the
        /// size cap: decoded, 32 checked, the rest left unchecked), beside a genuine control room on each store.
        @Test(
            "a press during a flood of forged commands is handled within a second; one log line per answer",
            arguments: StoreKind.all, [150_000, 1_500])
        func pressDuringFlood(kind: StoreKind, forged: Int) async throws {
            let directory = Fixture.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let log = KeepingLogHandler()
            let logger = Logger(label: "box") { _ in log }
            try await kind.withStore(directory: directory) { store in
                let roomKey = DeviceKey.generate()
                let room = ControlRoom(store: store, key: roomKey, logger: StoreKind.quiet)
                let deviceKey = DeviceKey.generate()
                let deviceID = deviceKey.identity.deviceID
                try await room.addDevice(id: deviceID, publicKey: deviceKey.identity.jwk)
                let outbox = try Outbox(
                    path: directory + "/outbox.db", sealer: RecordSigner(key: deviceKey), logger: StoreKind.quiet)
                let hostile = try HostileBackend(forged: forged, controlRoomKey: roomKey, deviceID: deviceID)
                try await serving(room) { roomURL in
                    try await hostile.run { hostileURL in
                        let uplink = try Uplink(
                            outbox: outbox, deviceID: deviceID, signingKey: deviceKey,
                            backends: [
                                .init(name: "cr", url: roomURL, controlRoomKey: roomKey.identity),
                                .init(
                                    name: "rogue", url: hostileURL, controlRoomKey: roomKey.identity,
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
                        func press() throws -> String {
                            let draft = RecordDraft(
                                id: UUID().uuidString.lowercased(), time: Uplink.systemWallClock(), timeSource: .gnss,
                                fix: RecordFix(latitude: 28.6139, longitude: 77.2090, ageMilliseconds: 1200),
                                body: .emergency(input: "panic-1"))
                            try uplink.submit(draft)
                            return draft.id
                        }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try await uplink.run() }
                            // The first press opens an alert: from then on the rogue backend is polled and floods
                            // the box.
                            let first = try press()
                            #expect(await sent(first))
                            _ = await served.next()
                            _ = await served.next()
                            // A press while the flood goes on.
                            let start = ContinuousClock.now
                            let second = try press()
                            #expect(await sent(second))
                            let latency = ContinuousClock.now - start
                            // The flood went on around it: the rogue answered again after the press was shown sent.
                            let before = hostile.answers.withLock { $0 }
                            while let number = await served.next(), number <= before {}
                            let lines = log.warnings
                            let answers = hostile.answers.withLock { $0 }
                            print(
                                "[hostile answer] \(kind) \(forged) forged commands per answer: press shown sent after "
                                    + "\(latency); \(answers) hostile answers, \(lines.count) log lines at warning or above"
                            )
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
                                #expect(
                                    failures.contains { $0.contains("longer than the 1048576 bytes an answer may be") })
                            }
                            group.cancelAll()
                        }
                    }
                }
            }
        }
    }
}
