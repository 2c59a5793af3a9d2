import PanicCore
import PanicHardware
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The radio monitor on a modem's AT port: `AT+CSQ`, `AT+COPS?` (name, then numeric MCC/MNC), `AT+CREG?` (LAC and
/// cell id) and SIMCom's `AT+CENG?` neighbour list, read through ``RadioReading`` (pure) in one short conversation.
/// The port is the SMS modem's too: the conversation holds ``ModemPortLock`` so it never interleaves with a text,
/// and it ends at ``timeout`` whatever the modem does, so a text waits at most that long.
public final class ATRadioMonitor: RadioMonitor {
    public let path: String
    public let baud: Int
    /// Deadline for one whole reading, in real time as ``GSMModem/timeout`` is: the conversation is real I/O, and a
    /// virtual clock (the simulator's) stands still while the reading is under way, so a deadline on it never came.
    public let timeout: Duration
    public let lock: ModemPortLock
    private let clock: any MonotonicClock

    public init(
        path: String, baud: Int = 115_200, timeout: Duration = .seconds(3), clock: any MonotonicClock,
        lock: ModemPortLock? = nil
    ) {
        self.path = path
        self.baud = baud
        self.timeout = timeout
        self.clock = clock
        self.lock = lock ?? ModemPortLock.forPath(path)
    }

    public func readRadio() async throws(TelemetryReadError) -> Telemetry.Radio {
        let progress = ReadingProgress()
        do {
            try await lock.withPort {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await self.converse(progress)
                        return true
                    }
                    group.addTask {
                        try await Task.sleep(for: self.timeout)
                        return false
                    }
                    defer { group.cancelAll() }
                    _ = try await group.next()
                }
            }
        } catch let error as TelemetryReadError {
            throw error
        } catch {
            throw TelemetryReadError("modem \(path): \(error)")
        }
        let reading = progress.value.withLock { $0 }
        guard reading.understood else {
            let why = reading.problems.first ?? "no answer within \(timeout)"
            throw TelemetryReadError("modem \(path): \(why)")
        }
        return reading.radio
    }

    /// Asks every step in turn, feeding the answers into `progress` (what was read survives the deadline).
    private func converse(_ progress: ReadingProgress) async throws {
        let descriptor = try PTYSource(path: path, baud: baud).open()
        // The port is closed and its reader stopped before the lock passes it on (the next conversation's answer
        // would otherwise go to this reader).
        try await SerialReader.withChunks(from: descriptor, clock: clock) {
            _ = Glibc.close(descriptor)
        } _: { chunks in
            var iterator = chunks.makeAsyncIterator()
            var lines = LineSplitter(maximum: GSMModem.maximumLine)
            var pending: [String] = []
            var skipped: Set<RadioReading.Step> = []
            for step in RadioReading.Step.allCases where !skipped.contains(step) {
                try GSMModem.write(Array((step.command + "\r").utf8), to: descriptor, path: path)
                var answer: [String] = []
                while !answer.contains(where: ModemAnswers.isFinal) {
                    while pending.isEmpty {
                        guard let chunk = try await iterator.next() else {
                            throw TelemetryReadError("modem \(path): the port closed during \(step.command)")
                        }
                        guard let found = lines.append(chunk.bytes) else {
                            throw TelemetryReadError(
                                "modem \(path): an answer longer than \(GSMModem.maximumLine) bytes")
                        }
                        pending = found
                    }
                    answer.append(pending.removeFirst())
                }
                let failed = progress.value.withLock {
                    let before = $0.problems.count
                    $0.answered(step, lines: answer)
                    return $0.problems.count > before
                }
                if failed { skipped.formUnion(RadioReading.dependents(of: step)) }
            }
        }
    }
}

/// What a reading has understood so far, kept past its deadline.
final class ReadingProgress: Sendable {
    let value = Mutex(RadioReading())
}
