import CSerialPort
import Logging
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A libserialport call that failed: which call, libserialport's verdict, and the OS error behind it.
public struct SerialPortError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libserialport's `sp_return` error codes.
    public enum Code: Sendable, Hashable {
        /// `SP_ERR_ARG`: invalid arguments (a port that does not exist is reported this way).
        case invalidArgument
        /// `SP_ERR_FAIL`: the OS reported a failure; `errno` and `message` say which.
        case systemFailure
        /// `SP_ERR_MEM`: a memory allocation failed.
        case outOfMemory
        /// `SP_ERR_SUPP`: not supported on this OS, device or configuration.
        case unsupported
        /// A negative value libserialport does not document.
        case unknown(Int32)
    }

    /// The libserialport function that failed (`sp_get_port_by_name`, `sp_open`, …).
    public var call: String
    public var code: Code
    /// The OS error, read with `sp_last_error_code()` right after the call (only for `systemFailure`).
    public var errno: Errno?
    /// The OS error message from `sp_last_error_message()` (only for `systemFailure`).
    public var message: String?
    /// The port being worked on.
    public var port: String?

    public init(call: String, code: Code, errno: Errno? = nil, message: String? = nil, port: String? = nil) {
        self.call = call
        self.code = code
        self.errno = errno
        self.message = message
        self.port = port
    }

    public var description: String {
        var text = "\(call)(\(port ?? "")) failed: "
        switch code {
        case .invalidArgument: text += "invalid argument (SP_ERR_ARG)"
        case .systemFailure: text += "OS error (SP_ERR_FAIL)"
        case .outOfMemory: text += "out of memory (SP_ERR_MEM)"
        case .unsupported: text += "not supported (SP_ERR_SUPP)"
        case .unknown(let value): text += "unknown libserialport result \(value)"
        }
        if let errno { text += ": \(message ?? "\(errno)") (errno \(errno.rawValue))" }
        return text
    }

    /// Maps a libserialport result to its value (≥ 0) or to an error naming `call`.
    ///
    /// `lastError` must read `sp_last_error_code()` and `sp_last_error_message()`; it is called at once, and
    /// only for `SP_ERR_FAIL` (libserialport defines them for nothing else). Injected so tests can map every
    /// result without hardware.
    public static func check(
        _ result: Int32, call: String, port: String?, lastError: () -> (code: Int32, message: String?)
    ) throws(SerialPortError) -> Int32 {
        guard result < 0 else { return result }
        switch result {
        case SP_ERR_ARG.rawValue: throw SerialPortError(call: call, code: .invalidArgument, port: port)
        case SP_ERR_FAIL.rawValue:
            let (code, message) = lastError()
            throw SerialPortError(
                call: call, code: .systemFailure, errno: Errno(rawValue: code), message: message, port: port)
        case SP_ERR_MEM.rawValue: throw SerialPortError(call: call, code: .outOfMemory, port: port)
        case SP_ERR_SUPP.rawValue: throw SerialPortError(call: call, code: .unsupported, port: port)
        default: throw SerialPortError(call: call, code: .unknown(result), port: port)
        }
    }

    /// The real `lastError` for `check`: libserialport's thread-local last OS error.
    static func libserialportLastError() -> (code: Int32, message: String?) {
        let code = sp_last_error_code()
        guard let message = sp_last_error_message() else { return (code, nil) }
        defer { sp_free_error_message(message) }
        return (code, String(cString: message))
    }
}

/// A serial port opened through libserialport, 8N1 without flow control; closed and freed on `close()`/deinit.
///
/// Thin on purpose: it opens and configures the port and hands its descriptor to `SerialReader`, which does the
/// reading. The port pointer sits behind a mutex, so the reader thread's exit handler may close it.
public final class SerialPort: Sendable {
    public let path: String
    private let port: Mutex<OpaquePointer?>

    /// Looks the port up. The corresponding C function is `sp_get_port_by_name`.
    public init(path: String) throws(SerialPortError) {
        self.path = path
        var found: OpaquePointer?
        _ = try SerialPortError.check(
            sp_get_port_by_name(path, &found).rawValue, call: "sp_get_port_by_name", port: path,
            lastError: SerialPortError.libserialportLastError)
        port = Mutex(found)
    }

    /// Opens the port for reading at `baud`, 8N1, no flow control.
    /// The corresponding C functions are `sp_open`, `sp_set_baudrate`, `sp_set_bits`, `sp_set_parity`,
    /// `sp_set_stopbits`, `sp_set_flowcontrol` and `sp_get_port_handle`; returns the OS descriptor.
    public func open(baud: Int) throws(SerialPortError) -> CInt {
        let path = self.path
        let result = port.withLock { port -> Result<CInt, SerialPortError> in
            guard let port else { return .failure(SerialPortError(call: "sp_open", code: .invalidArgument)) }
            func run(_ call: String, _ body: () -> sp_return) throws(SerialPortError) {
                _ = try SerialPortError.check(
                    body().rawValue, call: call, port: path, lastError: SerialPortError.libserialportLastError)
            }
            do throws(SerialPortError) {
                try run("sp_open") { sp_open(port, SP_MODE_READ) }
                try run("sp_set_baudrate") { sp_set_baudrate(port, Int32(baud)) }
                try run("sp_set_bits") { sp_set_bits(port, 8) }
                try run("sp_set_parity") { sp_set_parity(port, SP_PARITY_NONE) }
                try run("sp_set_stopbits") { sp_set_stopbits(port, 1) }
                try run("sp_set_flowcontrol") { sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE) }
                var descriptor: CInt = -1
                try run("sp_get_port_handle") { sp_get_port_handle(port, &descriptor) }
                try Self.readAtLeastOne(descriptor, path: path)
                return .success(descriptor)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Sets VMIN 1, VTIME 0. libserialport leaves both at 0, and then a tty's `read` returns 0 whenever its
    /// buffer is empty, even on a non-blocking descriptor: `SerialReader` would take every drained read for
    /// end of file and reopen the port (found on a real 16550 in `make hil-test`; pseudo-terminals hid it).
    /// With VMIN 1 an empty buffer reads as `EAGAIN`, and 0 means the device hung up. The corresponding C
    /// functions are `tcgetattr` and `tcsetattr`.
    static func readAtLeastOne(_ descriptor: CInt, path: String) throws(SerialPortError) {
        var attributes = termios()
        guard tcgetattr(descriptor, &attributes) == 0 else {
            throw SerialPortError(
                call: "tcgetattr", code: .systemFailure, errno: Errno(rawValue: Glibc.errno), port: path)
        }
        withUnsafeMutableBytes(of: &attributes.c_cc) { characters in
            characters[Int(VMIN)] = 1
            characters[Int(VTIME)] = 0
        }
        guard tcsetattr(descriptor, TCSANOW, &attributes) == 0 else {
            throw SerialPortError(
                call: "tcsetattr", code: .systemFailure, errno: Errno(rawValue: Glibc.errno), port: path)
        }
    }

    /// Closes the port (if open) and frees it. The corresponding C functions are `sp_close`, `sp_free_port`.
    public func close() {
        port.withLock { port in
            guard let open = port else { return }
            _ = sp_close(open)
            sp_free_port(open)
            port = nil
        }
    }

    /// Streams the port's bytes; the port is closed when the stream ends.
    /// `onClosed` runs on the reader's thread once the port is closed, after the stream ended: whoever opens the
    /// same device next can wait for it (a tty still open elsewhere shares its input queue).
    public func chunks(
        baud: Int, clock: any MonotonicClock, onClosed: @escaping @Sendable () -> Void = {}
    ) throws(SerialPortError) -> AsyncThrowingStream<
        GNSSChunk, any Error
    > {
        let descriptor = try open(baud: baud)
        return SerialReader.chunks(from: descriptor, clock: clock) { [self] in
            close()
            onClosed()
        }
    }

    deinit { close() }
}

/// A GNSS receiver on a serial port: opens it through libserialport, and when it goes away (a USB receiver
/// unplugged) re-opens it with exponential backoff, logging once per outage rather than once per retry.
public struct GNSSSerialSource: GNSSByteSource {
    /// Opens the device and returns its byte stream; injectable so the reconnect logic is testable.
    public typealias Opener = @Sendable () throws -> AsyncThrowingStream<GNSSChunk, any Error>

    public let path: String
    public let opener: Opener
    public let clock: any MonotonicClock
    public let logger: Logger
    /// The first retry delay; it doubles up to `maximumBackoff`.
    public var initialBackoff = Duration.milliseconds(500)
    public var maximumBackoff = Duration.seconds(30)

    /// A source reading `path` at `baud` through libserialport.
    public init(path: String, baud: Int, clock: any MonotonicClock, logger: Logger) {
        self.init(path: path, clock: clock, logger: logger) {
            try SerialPort(path: path).chunks(baud: baud, clock: clock)
        }
    }

    /// A source whose device is opened by `opener` (a pseudo-terminal, or a test double).
    public init(path: String, clock: any MonotonicClock, logger: Logger, opener: @escaping Opener) {
        self.path = path
        self.clock = clock
        self.logger = logger
        self.opener = opener
    }

    public func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws {
        var delay = initialBackoff
        var outageStarted: MonotonicInstant?
        while true {
            try Task.checkCancellation()
            // Only the device's errors start an outage; an error thrown by `deliver` ends `run`.
            let deviceError: any Error
            let opened: Result<AsyncThrowingStream<GNSSChunk, any Error>, any Error> = Result { try opener() }
            switch opened {
            case .failure(let error):
                deviceError = error
            case .success(let stream):
                if let started = outageStarted {
                    logger.notice(
                        "GNSS serial port is back",
                        metadata: ["port": "\(path)", "outage": "\(started.duration(to: clock.now))"])
                    outageStarted = nil
                }
                delay = initialBackoff
                deviceError = try await readUntilLost(stream, deliver)
            }
            try Task.checkCancellation()
            if outageStarted == nil {
                outageStarted = clock.now
                logger.warning(
                    "GNSS serial port lost; re-opening with backoff",
                    metadata: ["port": "\(path)", "error": "\(deviceError)"])
            } else {
                logger.debug("GNSS serial port still unavailable", metadata: ["error": "\(deviceError)"])
            }
            try await clock.sleep(for: delay)
            delay = min(delay * 2, maximumBackoff)
        }
    }

    /// Delivers the stream's chunks; returns the device's error (or end of input), throws what `deliver` throws.
    private func readUntilLost(
        _ stream: AsyncThrowingStream<GNSSChunk, any Error>, _ deliver: @Sendable (GNSSChunk) async throws -> Void
    ) async throws -> any Error {
        var chunks = stream.makeAsyncIterator()
        while true {
            let next: GNSSChunk?
            do {
                next = try await chunks.next()
            } catch {
                return error
            }
            // End of input: the device went away (a pty's other side closed, a USB hang-up).
            guard let chunk = next else { return SerialIOError(call: "read", errno: .ioError, path: path) }
            try await deliver(chunk)
        }
    }
}
