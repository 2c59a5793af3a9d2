import Foundation
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call on a serial, pseudo-terminal or socket descriptor: which call, and the errno it left.
public struct SerialIOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The C function that failed (`open`, `read`, `poll`, `tcsetattr`, …).
    public var call: String
    /// The errno read immediately after the call, on the same thread.
    public var errno: Errno
    /// What was being opened or read, when known.
    public var path: String?

    public init(call: String, errno: Errno, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    /// Builds the error from the current thread's errno; call it straight after the failing call.
    static func last(_ call: String, path: String? = nil) -> SerialIOError {
        SerialIOError(call: call, errno: Errno(rawValue: Glibc.errno), path: path)
    }

    public var description: String {
        "\(call)(\(path ?? "")) failed: \(errno) (errno \(errno.rawValue))"
    }
}

/// Reads a file descriptor without blocking any thread forever: the descriptor is made non-blocking, and one
/// dedicated thread waits in `poll(2)` for it or for a wake-up pipe that stopping the stream writes to (the
/// self-pipe form of an eventfd, which Glibc's Swift module does not export).
///
/// Stopping: when the consumer stops iterating (or its task is cancelled) the pipe is written, the thread
/// wakes, closes the pipe and calls `onExit` (where the owner closes the descriptor). End of file ends the
/// stream; a read error (EIO when a USB receiver is unplugged or a pty's other side closes) ends it with a
/// `SerialIOError`.
public enum SerialReader {
    /// Streams what `descriptor` delivers, stamped with `clock`'s time of arrival.
    public static func chunks(
        from descriptor: CInt, clock: any MonotonicClock, bufferSize: Int = 4096,
        onExit: @escaping @Sendable () -> Void
    ) -> AsyncThrowingStream<GNSSChunk, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: GNSSChunk.self)
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            continuation.finish(throwing: SerialIOError.last("fcntl"))
            onExit()
            return stream
        }
        var pipeEnds: [CInt] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            continuation.finish(throwing: SerialIOError.last("pipe"))
            onExit()
            return stream
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let stopper = pipeEnds[0]
        let wake = Wake(reader: pipeEnds[0], writer: pipeEnds[1])
        continuation.onTermination = { _ in wake.signal() }
        let thread = Thread {
            readLoop(descriptor, stopper, clock, bufferSize, continuation)
            wake.close()
            onExit()
        }
        thread.name = "serial-reader-\(descriptor)"
        thread.start()
        return stream
    }

    private static func readLoop(
        _ descriptor: CInt, _ stopper: CInt, _ clock: any MonotonicClock, _ bufferSize: Int,
        _ continuation: AsyncThrowingStream<GNSSChunk, any Error>.Continuation
    ) {
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        var fds = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stopper, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if Glibc.errno == EINTR { continue }
                continuation.finish(throwing: SerialIOError.last("poll"))
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            if fds[0].revents & Int16(POLLNVAL) != 0 {
                continuation.finish(throwing: SerialIOError(call: "poll", errno: .badFileDescriptor))
                return
            }
            // Drain what is there; POLLHUP/POLLERR also land here, and read() reports them.
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    continuation.yield(GNSSChunk(bytes: Array(buffer[0..<count]), receivedAt: clock.now))
                    continue
                }
                if count == 0 {
                    continuation.finish()
                    return
                }
                let error = Glibc.errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                continuation.finish(throwing: SerialIOError(call: "read", errno: Errno(rawValue: error)))
                return
            }
        }
    }
}

/// The pipe that stops a reader thread: closed exactly once, and never written after it is closed (the
/// descriptor number could by then belong to something else).
private final class Wake: Sendable {
    private let state: Mutex<(reader: CInt, writer: CInt)?>

    init(reader: CInt, writer: CInt) { state = Mutex((reader, writer)) }

    func signal() {
        state.withLock { ends in
            guard let ends else { return }
            var one: UInt8 = 1
            _ = write(ends.writer, &one, 1)
        }
    }

    func close() {
        state.withLock { ends in
            if let open = ends {
                _ = Glibc.close(open.reader)
                _ = Glibc.close(open.writer)
            }
            ends = nil
        }
    }
}
