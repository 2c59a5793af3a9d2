import ControlRoomKit
import Foundation
import NIOCore
import NIOPosix

/// Where escalation e-mail goes: an SMTP relay (the state's mail server or a local MTA), the sender, the
/// supervisors on call.
public struct SMTPConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var from: String
    public var to: [String]
    /// The whole exchange (connect to QUIT) must finish within this.
    public var timeout: Duration

    /// Throws `DeskError.badRequest` naming the address that cannot be used (an address must be `local@domain`
    /// with no spaces, angle brackets or control characters: it goes into SMTP commands verbatim).
    public init(
        host: String, port: Int = 25, from: String, to: [String], timeout: Duration = .seconds(15)
    )
        throws(DeskError)
    {
        guard !host.isEmpty, (1...65535).contains(port) else {
            throw .badRequest("SMTP server must be HOST:PORT with a port 1–65535, got '\(host):\(port)'")
        }
        guard !to.isEmpty else { throw .badRequest("escalation e-mail needs at least one recipient") }
        for address in [from] + to where !Self.plausible(address) {
            throw .badRequest("'\(address)' is not an e-mail address (local@domain, no spaces or <>)")
        }
        self.host = host
        self.port = port
        self.from = from
        self.to = to
        self.timeout = timeout
    }

    static func plausible(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && address.count <= 254
            && address.unicodeScalars.allSatisfy {
                $0.value > 32 && $0.value < 127 && !"<>()[],;:\\\"".contains(Character($0))
            }
    }
}

/// Why an escalation e-mail or webhook was not delivered.
public struct NotificationError: Error, CustomStringConvertible {
    public var description: String
}

/// A minimal SMTP client (RFC 5321) over SwiftNIO: EHLO, MAIL, RCPT, DATA, QUIT, plain TCP (a relay on the
/// control room's network; no STARTTLS, no AUTH). Bounded: reply lines of at most 1,000 bytes, replies of at most
/// 100 lines, the whole exchange within the configured timeout.
struct SMTPClient {
    let configuration: SMTPConfiguration

    init(_ configuration: SMTPConfiguration) { self.configuration = configuration }

    func send(subject: String, body: String, clock: any Clock<Duration>) async throws {
        let timeout = configuration.timeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.exchange(subject: subject, body: body) }
            group.addTask {
                try await clock.sleep(for: timeout)
                throw NotificationError(description: "no answer within \(timeout)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func exchange(subject: String, body: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    return try NIOAsyncChannel<String, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let message = Self.message(
            from: configuration.from, to: configuration.to, subject: subject, body: body, date: Date())
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            func reply(_ expected: Int, after command: String) async throws {
                var count = 0
                while let line = try await lines.next() {
                    count += 1
                    guard count <= 100 else {
                        throw NotificationError(description: "reply to \(command) over 100 lines")
                    }
                    let code = Int(line.prefix(3))
                    guard let code else {
                        throw NotificationError(description: "not an SMTP reply to \(command): \(line)")
                    }
                    if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                    guard code == expected else {
                        throw NotificationError(description: "\(command) refused: \(line.prefix(200))")
                    }
                    return
                }
                throw NotificationError(description: "connection closed waiting for the reply to \(command)")
            }
            func command(_ text: String, _ expected: Int) async throws {
                try await outbound.write(ByteBuffer(string: text + "\r\n"))
                try await reply(expected, after: String(text.prefix(4)))
            }
            try await reply(220, after: "the greeting")
            try await command("EHLO panicbridge-controlroom", 250)
            try await command("MAIL FROM:<\(configuration.from)>", 250)
            for recipient in configuration.to { try await command("RCPT TO:<\(recipient)>", 250) }
            try await command("DATA", 354)
            try await outbound.write(ByteBuffer(string: message + ".\r\n"))
            try await reply(250, after: "the message")
            try await command("QUIT", 221)
        }
    }

    /// The message (RFC 5322): headers with no control characters (a device name cannot add a header), a subject
    /// with non-ASCII text as an RFC 2047 encoded word, the body in UTF-8 with CRLF line ends and dot-stuffed.
    static func message(from: String, to: [String], subject: String, body: String, date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let clean = String(subject.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.map(Character.init))
        let encodedSubject =
            clean.unicodeScalars.allSatisfy(\.isASCII)
            ? clean : "=?utf-8?b?" + Data(clean.utf8).base64EncodedString() + "?="
        var lines = [
            "From: <\(from)>", "To: " + to.map { "<\($0)>" }.joined(separator: ", "), "Subject: " + encodedSubject,
            "Date: " + formatter.string(from: date), "Message-ID: <\(UUID().uuidString)@panicbridge>",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
        ]
        for line in body.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false)
        {
            let text = line.replacingOccurrences(of: "\r", with: "")
            lines.append(text.hasPrefix(".") ? "." + text : text)
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

/// SMTP reply lines, CRLF (or LF) removed; a line over 1,000 bytes is an error.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    static let maximum = 1000

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximum {
                throw NotificationError(description: "a reply line over \(Self.maximum) bytes")
            }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex + 1
        guard length <= Self.maximum, let line = buffer.readString(length: length) else {
            throw NotificationError(description: "a reply line over \(Self.maximum) bytes")
        }
        context.fireChannelRead(wrapInboundOut(line.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n"))))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
