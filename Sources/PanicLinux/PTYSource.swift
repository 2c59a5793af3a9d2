import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A pseudo-terminal pair: tests and the simulator write NMEA into the master; readers open the slave like a
/// serial device (libserialport cannot: it needs `/sys/class/tty/NAME` and modem-line ioctls).
public final class PseudoTerminal: Sendable {
    /// The master side's descriptor, written by the test or simulator.
    public let master: CInt
    /// The slave side's path (`/dev/pts/N`).
    public let slavePath: String
    /// A symbolic link to `slavePath` made for readers that want a stable name (removed on close).
    public let link: String?
    // Kept open so the slave never sees a hang-up between a reader closing and the next one opening.
    private let slave: CInt
    private let closed = Mutex(false)

    /// Opens a new pair with the slave in raw mode. The corresponding C function is `openpty`.
    public convenience init() throws(SerialIOError) {
        try self.init(linkedFrom: nil)
    }

    /// Opens a new pair and makes `link` a symbolic link to the slave (replacing a stale link left by an earlier
    /// run; any other file there is an error). The master is non-blocking, for `offer`.
    public convenience init(link: String) throws(SerialIOError) {
        try self.init(linkedFrom: link)
    }

    private init(linkedFrom link: String?) throws(SerialIOError) {
        // Everything that can fail happens before a stored property is set: a class whose init throws after that
        // runs its deinit, which would close (and unlink) what it does not own.
        var master: CInt = -1
        var slave: CInt = -1
        var name = [CChar](repeating: 0, count: 128)
        guard openpty(&master, &slave, &name, nil, nil) == 0 else { throw SerialIOError.last("openpty") }
        let slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var settings = termios()
        if tcgetattr(slave, &settings) == 0 {
            cfmakeraw(&settings)
            _ = tcsetattr(slave, TCSANOW, &settings)
        }
        if let link {
            let flags = fcntl(master, F_GETFL)
            _ = fcntl(master, F_SETFL, flags | O_NONBLOCK)
            var existing = stat()
            var failure: SerialIOError?
            if lstat(link, &existing) == 0 {
                // A link left by an earlier run is replaced; anything else there is somebody's file.
                if existing.st_mode & S_IFMT == S_IFLNK {
                    unlink(link)
                } else {
                    failure = SerialIOError(call: "symlink", errno: .fileExists, path: link)
                }
            }
            if failure == nil, symlink(slavePath, link) != 0 { failure = SerialIOError.last("symlink", path: link) }
            if let failure {
                Glibc.close(master)
                Glibc.close(slave)
                throw failure
            }
        }
        self.master = master
        self.slave = slave
        self.slavePath = slavePath
        self.link = link
    }

    /// Writes `bytes` if the terminal can take them now, without waiting (the master must be non-blocking, as
    /// `init(link:)` makes it). When no reader keeps up, the queue is flushed first so a reader that comes later
    /// gets current sentences rather than a stale backlog; returns false when the bytes were dropped.
    @discardableResult
    public func offer(_ bytes: [UInt8]) -> Bool {
        let written = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress!, $0.count) }
        if written == bytes.count { return true }
        if written < 0, Glibc.errno == EAGAIN || Glibc.errno == EWOULDBLOCK {
            _ = tcflush(slave, TCIFLUSH)
            let again = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress!, $0.count) }
            if again == bytes.count { return true }
        }
        return false
    }

    /// Writes all of `bytes` into the master side.
    public func write(_ bytes: [UInt8]) throws(SerialIOError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if Glibc.errno == EINTR { continue }
                throw SerialIOError.last("write", path: slavePath)
            }
            offset += written
        }
    }

    /// Closes both sides; a reader of the slave then sees end of input or EIO.
    public func close() {
        closed.withLock { closed in
            guard !closed else { return }
            closed = true
            _ = Glibc.close(master)
            _ = Glibc.close(slave)
            if let link { unlink(link) }
        }
    }

    deinit { close() }
}

/// A serial device read through plain termios (8N1, raw, no flow control): a pseudo-terminal in tests and the
/// simulator, or any tty libserialport will not take.
public struct PTYSource: GNSSByteSource {
    public let path: String
    public let baud: Int
    public let clock: any MonotonicClock

    public init(path: String, baud: Int = 9600, clock: any MonotonicClock = SystemMonotonicClock()) {
        self.path = path
        self.baud = baud
        self.clock = clock
    }

    /// Opens the device and configures it; the caller owns the descriptor.
    /// The corresponding C functions are `open`, `tcgetattr`, `cfmakeraw`, `cfsetspeed` and `tcsetattr`.
    public func open() throws(SerialIOError) -> CInt {
        let descriptor = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw SerialIOError.last("open", path: path) }
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else {
            let error = SerialIOError.last("tcgetattr", path: path)
            _ = Glibc.close(descriptor)
            throw error
        }
        cfmakeraw(&settings)
        settings.c_cflag |= tcflag_t(CLOCAL | CREAD)
        settings.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(CRTSCTS) | tcflag_t(PARENB))
        _ = cfsetspeed(&settings, Self.speed(baud))
        guard tcsetattr(descriptor, TCSANOW, &settings) == 0 else {
            let error = SerialIOError.last("tcsetattr", path: path)
            _ = Glibc.close(descriptor)
            throw error
        }
        return descriptor
    }

    /// Streams the device's bytes until end of input, an error, or the consumer stops.
    public func chunks() throws(SerialIOError) -> AsyncThrowingStream<GNSSChunk, any Error> {
        let descriptor = try open()
        return SerialReader.chunks(from: descriptor, clock: clock) { _ = Glibc.close(descriptor) }
    }

    public func run(_ deliver: @Sendable (GNSSChunk) async throws -> Void) async throws {
        for try await chunk in try chunks() { try await deliver(chunk) }
    }

    static func speed(_ baud: Int) -> speed_t {
        switch baud {
        case 4800: speed_t(B4800)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115_200: speed_t(B115200)
        case 230_400: speed_t(B230400)
        case 460_800: speed_t(B460800)
        case 921_600: speed_t(B921600)
        default: speed_t(B9600)
        }
    }
}
