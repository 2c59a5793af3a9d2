import PanicCore
import PanicHardware
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A GSM modem on a serial port (a USB modem's AT port, a SIM800 on a UART, or a simulated modem's pty), sending one
/// text message per `send` through the AT dialogue of `SMSDialogue`. The port is opened raw for each message and
/// closed after it, so a modem that hung up or was re-plugged is found again next time. It holds the port's
/// ``ModemPortLock`` for the dialogue, so the radio monitor never talks to the modem in the middle of a text.
public final class GSMModem: SMSModem {
    public let path: String
    public let baud: Int
    /// Deadline for the whole dialogue (networks take seconds to confirm `+CMGS:`).
    public let timeout: Duration
    /// Longest line read from the modem before the dialogue fails (garbage on the port).
    public static let maximumLine = 512

    /// The port's one owner, shared with the radio monitor (``ATRadioMonitor``): a dialogue never interleaves
    /// with a health reading; it waits for one in progress (at most that reading's short deadline).
    public let lock: ModemPortLock

    public init(path: String, baud: Int = 115_200, timeout: Duration = .seconds(30), lock: ModemPortLock? = nil) {
        self.path = path
        self.baud = baud
        self.timeout = timeout
        self.lock = lock ?? ModemPortLock.forPath(path)
    }

    public func send(_ text: String, to number: String) async throws(SMSModemError) -> Int {
        let handedOver = HandOverFlag()
        do {
            return try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask {
                    try await self.lock.withPort { try await self.dialogue(text, to: number, handedOver: handedOver) }
                }
                group.addTask {
                    try await Task.sleep(for: self.timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let reference = first else {
                    throw SMSModemError(
                        reason: "modem \(path): no answer within \(timeout)",
                        textHandedOver: handedOver.value.withLock { $0 })
                }
                return reference
            }
        } catch let error as SMSModemError {
            throw error
        } catch {
            throw SMSModemError(reason: "modem \(path): \(error)", textHandedOver: handedOver.value.withLock { $0 })
        }
    }

    private func dialogue(_ text: String, to number: String, handedOver: HandOverFlag) async throws -> Int {
        let descriptor = try PTYSource(path: path, baud: baud).open()
        // The port is closed and its reader stopped before the lock passes it on.
        return try await SerialReader.withChunks(from: descriptor, clock: SystemMonotonicClock()) {
            _ = Glibc.close(descriptor)
        } _: { chunks in
            var dialogue = SMSDialogue(number: number, text: text)
            var lines = LineSplitter(maximum: Self.maximumLine)
            var pending: [String] = []
            var action = dialogue.start()
            var iterator = chunks.makeAsyncIterator()
            while true {
                switch action {
                case .write(let bytes):
                    try Self.write(bytes, to: descriptor, path: path)
                    handedOver.value.withLock { $0 = dialogue.textHandedOver }
                case .sent(let reference): return reference
                case .failed(let reason):
                    throw SMSModemError(reason: "modem \(path): \(reason)", textHandedOver: dialogue.textHandedOver)
                case .wait: break
                }
                while pending.isEmpty {
                    guard let chunk = try await iterator.next() else {
                        throw SMSModemError(
                            reason: "modem \(path): the port closed during the dialogue",
                            textHandedOver: dialogue.textHandedOver)
                    }
                    guard let found = lines.append(chunk.bytes) else {
                        throw SMSModemError(
                            reason: "modem \(path): an answer longer than \(Self.maximumLine) bytes",
                            textHandedOver: dialogue.textHandedOver)
                    }
                    pending = found
                }
                action = dialogue.received(pending.removeFirst())
            }
        }
    }

    /// Reads the text messages the modem holds that were not read yet (`AT+CMGF=1`, `AT+CMGL="REC UNREAD"`) and
    /// deletes each one read (`AT+CMGD=<index>`), holding the port's lock, within ``timeout``. A modem that answers
    /// garbage, an over-long line or more than ``ModemAnswers/maximumListed`` messages fails the read with the
    /// problem named (``ModemAnswers/messages(_:)``); nothing is deleted then.
    public func readMessages() async throws(SMSModemError) -> [ModemAnswers.IncomingSMS] {
        do {
            return try await withThrowingTaskGroup(of: [ModemAnswers.IncomingSMS]?.self) { group in
                group.addTask { try await self.lock.withPort { try await self.inboxDialogue() } }
                group.addTask {
                    try await Task.sleep(for: self.timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let messages = first else {
                    throw SMSModemError(reason: "modem \(path): no answer within \(timeout)", textHandedOver: false)
                }
                return messages
            }
        } catch let error as SMSModemError {
            throw error
        } catch {
            throw SMSModemError(reason: "modem \(path): \(error)", textHandedOver: false)
        }
    }

    private func inboxDialogue() async throws -> [ModemAnswers.IncomingSMS] {
        let descriptor = try PTYSource(path: path, baud: baud).open()
        // The port is closed and its reader stopped before the lock passes it on.
        return try await SerialReader.withChunks(from: descriptor, clock: SystemMonotonicClock()) {
            _ = Glibc.close(descriptor)
        } _: { chunks in
            var lines = LineSplitter(maximum: Self.maximumLine)
            var pending: [String] = []
            var iterator = chunks.makeAsyncIterator()
            let path = path
            // One command and its answer up to the final result; the echo and `+CMTI` notices are left out.
            func command(_ text: String) async throws -> [String] {
                try Self.write(Array((text + "\r").utf8), to: descriptor, path: path)
                var answer: [String] = []
                while true {
                    while pending.isEmpty {
                        guard let chunk = try await iterator.next() else {
                            throw SMSModemError(
                                reason: "modem \(path): the port closed during \(text)", textHandedOver: false)
                        }
                        guard let found = lines.append(chunk.bytes) else {
                            throw SMSModemError(
                                reason: "modem \(path): an answer to \(text) longer than \(Self.maximumLine) bytes",
                                textHandedOver: false)
                        }
                        pending = found
                    }
                    let line = pending.removeFirst()
                    if line == text || line.hasPrefix("+CMTI:") { continue }
                    answer.append(line)
                    if ModemAnswers.isFinal(line) { return answer }
                    guard answer.count <= 2 * ModemAnswers.maximumListed + 2 else {
                        throw SMSModemError(
                            reason: "modem \(path): \(text) answered more than \(answer.count - 1) lines",
                            textHandedOver: false)
                    }
                }
            }
            let mode = try await command("AT+CMGF=1")
            guard mode.last == "OK" else {
                throw SMSModemError(
                    reason: "modem \(path): AT+CMGF=1 answered \(LogText.quoted(mode.last ?? "", limit: 40))",
                    textHandedOver: false)
            }
            let messages: [ModemAnswers.IncomingSMS]
            do { messages = try ModemAnswers.messages(try await command("AT+CMGL=\"REC UNREAD\"")) } catch let failure
                as ModemAnswers.Failure
            {
                throw SMSModemError(reason: "modem \(path): \(failure)", textHandedOver: false)
            }
            for message in messages { _ = try await command("AT+CMGD=\(message.index)") }
            return messages
        }
    }

    static func write(_ bytes: [UInt8], to descriptor: CInt, path: String) throws(SerialIOError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if Glibc.errno == EINTR || Glibc.errno == EAGAIN { continue }
                throw SerialIOError.last("write", path: path)
            }
            offset += written
        }
    }
}

/// Whether the text was handed to the modem, read when the deadline ends the dialogue.
final class HandOverFlag: Sendable {
    let value = Mutex(false)
}

/// Splits a modem's output into lines at CR or LF, and reports the `> ` text prompt (which ends no line) as `>`.
struct LineSplitter {
    let maximum: Int
    private var buffer: [UInt8] = []

    init(maximum: Int) { self.maximum = maximum }

    /// Appends bytes; returns the complete lines (possibly none), or nil when a line grew past `maximum`.
    mutating func append(_ bytes: [UInt8]) -> [String]? {
        var lines: [String] = []
        for byte in bytes {
            if byte == 13 || byte == 10 {
                if !buffer.isEmpty { lines.append(String(decoding: buffer, as: UTF8.self)) }
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(byte)
                if buffer.count > maximum { return nil }
            }
        }
        if buffer.first == UInt8(ascii: ">") {
            lines.append(">")
            buffer.removeAll()
        }
        return lines
    }
}
