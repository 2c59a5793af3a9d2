import Logging
import PanicCore
import PanicHardware
import PanicLinux
import Synchronization
import SystemPackage
import Testing

@Suite("libserialport adapter", .timeLimit(.minutes(2)))
struct GNSSSerialPortTests {
    func mapped(_ result: Int32, lastError: (Int32, String?) = (0, nil)) -> SerialPortError? {
        do {
            _ = try SerialPortError.check(result, call: "sp_open", port: "/dev/ttyUSB0") { lastError }
            return nil
        } catch {
            return error
        }
    }

    @Test("success values pass through unchanged")
    func success() throws {
        #expect(mapped(0) == nil)
        #expect(try SerialPortError.check(17, call: "sp_blocking_read", port: nil) { (0, nil) } == 17)
    }

    @Test("every sp_return error becomes a SerialPortError naming the call")
    func everyError() {
        #expect(mapped(-1)?.code == .invalidArgument)
        #expect(mapped(-3)?.code == .outOfMemory)
        #expect(mapped(-4)?.code == .unsupported)
        #expect(mapped(-9)?.code == .unknown(-9))
        for code in [-1, -2, -3, -4, -9] as [Int32] {
            #expect(mapped(code, lastError: (Errno.permissionDenied.rawValue, "Permission denied"))?.call == "sp_open")
            #expect(mapped(code)?.port == "/dev/ttyUSB0")
        }
    }

    @Test("SP_ERR_FAIL carries the OS errno and message, and only it reads them")
    func systemFailure() {
        let error = mapped(-2, lastError: (Errno.permissionDenied.rawValue, "Permission denied"))
        #expect(error?.code == .systemFailure)
        #expect(error?.errno == .permissionDenied)
        #expect(error?.message == "Permission denied")
        #expect(error?.description.contains("sp_open") == true)
        #expect(error?.description.contains("Permission denied") == true)
        #expect(mapped(-1, lastError: (Errno.permissionDenied.rawValue, "Permission denied"))?.errno == nil)
    }

    @Test("a port that does not exist is reported by sp_get_port_by_name")
    func missingPort() {
        #expect {
            _ = try SerialPort(path: "/dev/ttyNOPE0")
        } throws: { error in
            (error as? SerialPortError)?.call == "sp_get_port_by_name"
        }
    }

    @Test("libserialport refuses a pseudo-terminal, with an error naming the call (why PTYSource exists)")
    func ptyRefused() throws {
        let pty = try PseudoTerminal()
        defer { pty.close() }
        #expect(throws: SerialPortError.self) {
            let port = try SerialPort(path: pty.slavePath)
            _ = try port.open(baud: 9600)
        }
    }
}

/// Collects log messages so a test can count them.
final class CapturingLog: Sendable {
    let entries = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturingLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.entries.withLock { $0.append((event.level, event.message.description)) }
        }
    }

    func count(_ level: Logger.Level) -> Int { entries.withLock { $0.filter { $0.0 == level }.count } }
}

@Suite("Serial source reconnection", .timeLimit(.minutes(2)))
struct GNSSSerialSourceTests {
    @Test("an outage is logged once however many retries it takes, and the return once; backoff doubles")
    func logOncePerOutage() async throws {
        let clock = ManualClock()
        let log = CapturingLog()
        let attempts = Mutex(0)
        let source = GNSSSerialSource(path: "/dev/ttyUSB0", clock: clock, logger: log.logger) {
            let attempt = attempts.withLock {
                $0 += 1
                return $0
            }
            // Attempts 1-4 fail (unplugged); the fifth gives one chunk and ends (unplugged again).
            guard attempt >= 5 else { throw SerialIOError(call: "open", errno: .noSuchFileOrDirectory) }
            return AsyncThrowingStream {
                $0.yield(GNSSChunk(bytes: Array("$GPTXT*00\r\n".utf8), receivedAt: .zero))
                $0.finish()
            }
        }
        let delivered = Mutex(0)
        let task = Task { try await source.run { _ in delivered.withLock { $0 += 1 } } }
        // Walk the backoff: 0.5, 1, 2, 4 s, each waited for on the manual clock.
        for expected in [0.5, 1.0, 2.0, 4.0] {
            while clock.sleeperCount == 0 { await Task.yield() }
            let deadline = try #require(clock.nextDeadline)
            #expect(clock.now.duration(to: deadline) == .milliseconds(Int64(expected * 1000)))
            clock.advance(to: deadline)
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        task.cancel()
        _ = try? await task.value
        #expect(attempts.withLock { $0 } == 5)
        #expect(delivered.withLock { $0 } == 1)
        #expect(log.count(.warning) == 2)  // the first outage and the second (after the data ended)
        #expect(log.count(.notice) == 1)  // back once
        #expect(log.count(.debug) == 3)  // the retries of the first outage
    }
}
