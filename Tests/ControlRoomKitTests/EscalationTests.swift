import ControlRoomDesk
import ControlRoomKit
import Crypto
import Foundation
import Hummingbird
import NIOCore
import PanicCore
import PanicLinux
import PanicSim
import PanicSimulation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Escalation that reaches a person: a real SMTP server (Debian's python3-aiosmtpd, a subprocess on loopback) and a
/// webhook receiver (Hummingbird, checking the HMAC itself) get the notifications of an unaccepted emergency.
@Suite("Escalation of an unaccepted emergency by e-mail and signed webhook", .serialized, .timeLimit(.minutes(2)))
struct EscalationTests {
    static func alert(
        _ id: String, kind: String = "emergency", state: ControlRoomAlertState = .open, waited: Int64
    )
        -> EscalationPlan.Row
    {
        EscalationPlan.Row(device: "bus", alert: id, kind: kind, state: state, waitedMs: waited)
    }

    @Test(
        "the plan: an open emergency is due after N s, then every M s after its last notification; accepted, cleared, help and tamper alerts never; the next due time is the earliest"
    )
    func plan() {
        let now: Int64 = 1_000_000
        let alerts = [
            Self.alert("young", waited: 59_000), Self.alert("old", waited: 61_000),
            Self.alert("notified", waited: 400_000), Self.alert("renotify", waited: 400_000),
            Self.alert("accepted", state: .acknowledged, waited: 900_000),
            Self.alert("cleared", state: .cleared, waited: 900_000), Self.alert("help", kind: "help", waited: 900_000),
        ]
        let claims = ["bus/notified": [now - 100_000], "bus/renotify": [now - 350_000, now - 300_000]]
        let (due, next) = EscalationPlan.decide(
            alerts: alerts, claims: claims, after: .seconds(60), every: .seconds(300), nowMs: now)
        #expect(due.map(\.row.alert) == ["old", "renotify"])
        #expect(due.map(\.round) == [1, 3])
        // "young" falls due in 1 s; "notified" in 200 s; the two just sent in 300 s.
        #expect(next == now + 1000)
        let none = EscalationPlan.decide(
            alerts: [alerts[4], alerts[5], alerts[6]], claims: [:], after: .seconds(60), every: .seconds(300),
            nowMs: now)
        #expect(none.due.isEmpty && none.nextMs == nil)
    }

    @Test(
        "an unaccepted emergency: after N s an e-mail at the SMTP server and a signed webhook, again M s later; both and their delivery in the audit log"
    )
    func delivered() async throws {
        // Virtual time: each round falls due when the test moves the clock, however loaded the machine.
        let time = VirtualTime()
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1)), time: time) { server in
            try await SMTPSink.with { smtp in
                try await WebhookSink.with(secret: Self.secret) { hook in
                    let bus = DeskDevice(time: server.wall())
                    try await server.register(bus, name: "Bus 534 Kashmere Gate")
                    let escalation = EscalationConfiguration(
                        after: .seconds(1), every: .seconds(2),
                        email: try SMTPConfiguration(
                            host: "127.0.0.1", port: smtp.port, from: "desk@control.example",
                            to: ["supervisor@control.example", "shift-lead@control.example"]),
                        webhook: try WebhookConfiguration(url: hook.base + "/hook", secret: Self.secret))
                    let escalator = Escalator(
                        room: server.room, signal: server.desk.signal, configuration: escalation, clock: time.clock,
                        logger: StoreKind.quiet)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await escalator.loop() }
                        let press = try bus.next(.emergency(input: "panic"), latitude: 28.6670, longitude: 77.2280)
                        try await server.send(bus, [press.envelope])
                        let pressedMs = bus.time

                        var mails = smtp.messages.makeAsyncIterator()
                        var hooks = hook.requests.makeAsyncIterator()
                        // N s after the press. The wall clock takes only the values the test gives it, so a round
                        // sent early would carry an earlier time in its audit line (checked below).
                        time.advance(toWall: pressedMs + 1000)
                        let first = try #require(await mails.next())
                        #expect(first.recipients == ["supervisor@control.example", "shift-lead@control.example"])
                        #expect(
                            first.text.contains("Subject: PanicBridge: EMERGENCY not accepted for 1 s"), "\(first.text)"
                        )
                        #expect(first.text.contains("Bus 534 Kashmere Gate"))
                        #expect(first.text.contains("Alert: \(press.id)"))
                        #expect(first.text.contains("Position: 28.66700, 77.22800"))
                        let webhook = try #require(await hooks.next())
                        #expect(webhook.path == "/hook")
                        #expect(webhook.signatureValid, "the HMAC does not verify: \(webhook.signature)")
                        let body = try JSONSerialization.jsonObject(with: webhook.body) as? [String: Any]
                        #expect(body?["alert"] as? String == press.id)
                        #expect(body?["device"] as? String == bus.id)
                        #expect(body?["round"] as? Int == 1)
                        #expect(body?["event"] as? String == "escalation")

                        // Still unaccepted: again M s after round 1 was claimed.
                        time.advance(toWall: pressedMs + 3000)
                        let second = try #require(await mails.next())
                        #expect(second.text.contains("Notification: 2"))
                        let again = try #require(await hooks.next())
                        #expect(again.signatureValid)
                        #expect(
                            (try JSONSerialization.jsonObject(with: again.body) as? [String: Any])?["round"] as? Int
                                == 2)

                        // Round 1 is wholly in the audit once round 2 went out: claimed, then each delivery.
                        let audit = try await server.room.audit(device: bus.id, alert: press.id)
                        let lines = audit.map { $0.action.rawValue + " " + $0.reason }
                        let claims = audit.filter { $0.action == .escalate }
                        #expect(
                            claims.map(\.timeMs) == [pressedMs + 1000, pressedMs + 3000],
                            "round 1 claimed at N s after the press, round 2 M s later: \(lines)")
                        #expect(audit.allSatisfy { $0.user == "controlroom" })
                        #expect(
                            lines.contains(
                                "escalation-notify e-mail to supervisor@control.example, shift-lead@control.example: sent"
                            ),
                            "\(lines)")
                        #expect(lines.contains("escalation-notify webhook \(hook.base)/hook: sent"), "\(lines)")
                        #expect(
                            lines.first?.hasPrefix("escalate round 1: EMERGENCY from Bus 534 Kashmere Gate") == true)
                        group.cancelAll()
                    }
                }
            }
        }
    }

    @Test(
        "a channel that fails is audited with the reason: SMTP refused (nothing listening), webhook answered 403"
    )
    func failed() async throws {
        let time = VirtualTime()
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1)), time: time) { server in
            try await WebhookSink.with(secret: Self.secret) { hook in
                let bus = DeskDevice(time: server.wall())
                try await server.register(bus, name: "Bus 534")
                let closed = try SMTPSink.unusedPort()
                let escalation = EscalationConfiguration(
                    after: .seconds(1), every: .seconds(1),
                    email: try SMTPConfiguration(
                        host: "127.0.0.1", port: closed, from: "desk@control.example", to: ["sup@control.example"]),
                    webhook: try WebhookConfiguration(url: hook.base + "/refuse", secret: Self.secret))
                let escalator = Escalator(
                    room: server.room, signal: server.desk.signal, configuration: escalation, clock: time.clock,
                    logger: StoreKind.quiet)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await escalator.loop() }
                    let press = try bus.next(.emergency(input: "panic"))
                    try await server.send(bus, [press.envelope])
                    var hooks = hook.requests.makeAsyncIterator()
                    time.advance(toWall: bus.time + 1000)
                    _ = try #require(await hooks.next())
                    time.advance(toWall: bus.time + 2000)
                    _ = try #require(await hooks.next())
                    let lines = try await server.room.audit(device: bus.id, alert: press.id).map(\.reason)
                    #expect(
                        lines.contains { $0.hasPrefix("e-mail to sup@control.example: failed: ") && $0.count > 40 },
                        "\(lines)")
                    #expect(lines.contains("webhook \(hook.base)/refuse: failed: HTTP 403"), "\(lines)")
                    group.cancelAll()
                }
            }
        }
    }

    @Test(
        "an unaccepted emergency: one SMS to each supervisor through the control room's modem (GSMModem on a real pty, the simulated modem answering), each audited"
    )
    func textMessages() async throws {
        let (texts, received) = AsyncStream.makeStream(of: SimulatedModem.Message.self)
        let port = try SimulatedModemPort { received.yield($0) }
        let time = VirtualTime()
        try await DeskServer.with(DeskConfiguration(heartbeat: .seconds(1)), time: time) { server in
            let bus = DeskDevice(time: server.wall())
            // A name with non-ASCII letters: the text must stay GSM 7-bit safe and within one message.
            try await server.register(bus, name: "Bus 534 Kashmere Gate – कश्मीरी गेट depot shuttle, via Ring Road")
            let escalation = EscalationConfiguration(
                after: .seconds(1), every: .seconds(1),
                sms: try SMSEscalation(
                    numbers: ["+919810000001", "+919810000002"],
                    modem: GSMModem(path: port.path, timeout: .seconds(20)),
                    modemName: port.path))
            let escalator = Escalator(
                room: server.room, signal: server.desk.signal, configuration: escalation, clock: time.clock,
                logger: StoreKind.quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await port.run() }
                group.addTask { try await escalator.loop() }
                let press = try bus.next(.emergency(input: "panic"), latitude: 28.6670, longitude: 77.2280)
                try await server.send(bus, [press.envelope])
                var messages = texts.makeAsyncIterator()
                time.advance(toWall: bus.time + 1000)
                let first = try #require(await messages.next())
                let second = try #require(await messages.next())
                #expect([first.number, second.number] == ["+919810000001", "+919810000002"])
                #expect(first.text == second.text)
                #expect(first.text.count <= 160 && first.text.unicodeScalars.allSatisfy(\.isASCII), "\(first.text)")
                #expect(first.text.hasPrefix("PanicBridge: EMERGENCY not accepted "), "\(first.text)")
                #expect(first.text.contains(bus.id) && first.text.contains("Bus 534 Kashmere Gate"), "\(first.text)")
                #expect(first.text.contains("at 28.66700,77.22800"), "\(first.text)")
                #expect(first.text.hasSuffix("alert \(press.id) round 1"), "\(first.text)")
                // Still unaccepted: round 2 texts the first number again. Round 1 is wholly in the audit by then
                // (claimed, then each number's delivery on its own line), as the rounds run one after the other.
                time.advance(toWall: bus.time + 2000)
                let again = try #require(await messages.next())
                #expect(again.number == "+919810000001" && again.text.hasSuffix("round 2"), "\(again.text)")
                let lines = try await server.room.audit(device: bus.id, alert: press.id).map {
                    $0.action.rawValue + " " + $0.reason
                }
                #expect(lines.first?.hasPrefix("escalate round 1: EMERGENCY from Bus 534") == true, "\(lines)")
                for number in ["+919810000001", "+919810000002"] {
                    #expect(
                        lines.contains {
                            $0.hasPrefix("escalation-notify SMS to \(number) via \(port.path): sent (reference ")
                        },
                        "\(lines)")
                }
                group.cancelAll()
            }
        }
    }

    @Test("bad escalation settings are refused with the problem named")
    func badSettings() {
        #expect(throws: DeskError.self) {
            try SMTPConfiguration(host: "127.0.0.1", port: 25, from: "desk@x", to: ["a@b>\r\nRCPT TO:<evil@x"])
        }
        #expect(throws: DeskError.self) { try SMTPConfiguration(host: "127.0.0.1", port: 25, from: "desk@x", to: []) }
        #expect(throws: DeskError.self) { try WebhookConfiguration(url: "ftp://x/hook", secret: Self.secret) }
        #expect(throws: DeskError.self) { try WebhookConfiguration(url: "https://x/hook", secret: Array("short".utf8)) }
        let modem = GSMModem(path: "/dev/null")
        #expect(throws: DeskError.badRequest("'+91 98100' is not a phone number (an optional + and 3 to 15 digits)")) {
            try SMSEscalation(numbers: ["+91 98100"], modem: modem, modemName: "/dev/null")
        }
        #expect(throws: DeskError.self) { try SMSEscalation(numbers: [], modem: modem, modemName: "/dev/null") }
    }

    static let secret = Array("a shared secret of the state's IT".utf8)
}

/// Debian's aiosmtpd on loopback, in a subprocess: each message received is written to a directory and announced
/// on its standard output, which the test reads (no polling of the directory).
struct SMTPSink: Sendable {
    struct Message: Sendable {
        var recipients: [String]
        var text: String
    }

    let port: Int
    let messages: AsyncStream<Message>

    static let script = #"""
        import asyncio, os, sys
        from aiosmtpd.smtp import SMTP

        directory = sys.argv[1]
        count = 0

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                global count
                count += 1
                path = os.path.join(directory, "%d.eml" % count)
                with open(path, "wb") as f:
                    f.write(envelope.original_content)
                print("message", path, ",".join(envelope.rcpt_tos), flush=True)
                return "250 OK"

        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0))
        print("listening", server.sockets[0].getsockname()[1], flush=True)
        loop.add_reader(sys.stdin.fileno(), lambda: loop.stop() if not os.read(sys.stdin.fileno(), 4096) else None)
        loop.run_forever()
        """#

    static func with(_ body: (SMTPSink) async throws -> Void) async throws {
        let python = "/usr/bin/python3"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("sink.py")
        try Data(Self.script.utf8).write(to: script)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, directory.path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        let lines = LineReader.lines(output.fileHandleForReading)
        var iterator = lines.makeAsyncIterator()
        guard let first = await iterator.next(), first.hasPrefix("listening "), let port = Int(first.dropFirst(10))
        else {
            throw DevToolsError(
                description: "the SMTP sink did not start: is python3-aiosmtpd installed (`make deps`)?")
        }
        let (messages, sink) = AsyncStream<Message>.makeStream()
        let forward = Task {
            while let line = await iterator.next() {
                let parts = line.split(separator: " ")
                guard parts.count == 3, parts[0] == "message" else { continue }
                let text = (try? String(contentsOfFile: String(parts[1]), encoding: .utf8)) ?? ""
                sink.yield(Message(recipients: parts[2].split(separator: ",").map(String.init), text: text))
            }
            sink.finish()
        }
        defer { forward.cancel() }
        try await body(SMTPSink(port: port, messages: messages))
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw DevToolsError(description: "bind failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Lines from a pipe, read by a thread of its own (blocking reads: no polling).
enum LineReader {
    static func lines(_ handle: FileHandle) -> AsyncStream<String> {
        let (stream, sink) = AsyncStream<String>.makeStream()
        let thread = Thread {
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    sink.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            sink.finish()
        }
        thread.start()
        return stream
    }
}

/// A webhook receiver on loopback that checks each request's HMAC-SHA256 itself (swift-crypto): `/hook` answers
/// 204, `/refuse` 403.
struct WebhookSink: Sendable {
    struct Received: Sendable {
        var path: String
        var body: Data
        var signature: String
        var signatureValid: Bool
    }

    let base: String
    let requests: AsyncStream<Received>

    static func with(secret: [UInt8], _ body: (WebhookSink) async throws -> Void) async throws {
        let (requests, sink) = AsyncStream<Received>.makeStream()
        let router = Router()
        for (path, status) in [("/hook", HTTPResponse.Status.noContent), ("/refuse", .forbidden)] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let bytes = try await request.body.collect(upTo: 1 << 16)
                let data = Data(bytes.readableBytesView)
                let header =
                    request.headers.first { $0.name.canonicalName == "x-panicbridge-signature" }?.value ?? ""
                var valid = false
                if header.hasPrefix("sha256="), let mac = Self.bytes(hex: String(header.dropFirst(7))) {
                    valid = HMAC<SHA256>.isValidAuthenticationCode(
                        mac, authenticating: data, using: SymmetricKey(data: secret))
                }
                sink.yield(Received(path: path, body: data, signature: header, signatureValid: valid))
                return Response(status: status)
            }
        }
        try await withLoopbackApp(router) { base in try await body(WebhookSink(base: base, requests: requests)) }
    }

    static func bytes(hex: String) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            result.append(byte)
            index = next
        }
        return result
    }
}
