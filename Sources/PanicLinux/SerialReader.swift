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
    ///
    /// The thread stops after the consumer does, at its own pace: it may still read the descriptor for a moment
    /// after the stream ended. A descriptor's bytes that belong to whoever reads next (a modem's AT port shared in
    /// turns) are read with ``withChunks(from:clock:bufferSize:onExit:_:)`` instead.
    public static func chunks(
        from descriptor: CInt, clock: any MonotonicClock, bufferSize: Int = 4096,
        onExit: @escaping @Sendable () -> Void
    ) -> AsyncThrowingStream<GNSSChunk, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: GNSSChunk.self)
        start(descriptor, clock, bufferSize, continuation, onExit: onExit)
        return stream
    }

    /// Runs `body` on what `descriptor` delivers (as ``chunks(from:clock:bufferSize:onExit:)`` streams it) and
    /// returns, or throws what `body` threw, only once the reading thread has stopped and `onExit` (which closes the
    /// descriptor) has run: nothing reads the descriptor after this returns. A conversation on a port that the next
    /// holder of ``ModemPortLock`` opens again needs that: a reader left over from it would take the next
    /// conversation's answer, which then never comes. The wait is not cut short by cancellation; it is short (the
    /// thread only has to notice its wake-up pipe).
    public static func withChunks<T: Sendable>(
        from descriptor: CInt, clock: any MonotonicClock, bufferSize: Int = 4096,
        onExit: @escaping @Sendable () -> Void,
        _ body: (AsyncThrowingStream<GNSSChunk, any Error>) async throws -> T
    ) async throws -> T {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: GNSSChunk.self)
        let stopped = Latch()
        start(descriptor, clock, bufferSize, continuation) {
            onExit()
            stopped.open()
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(stream))
        } catch {
            result = .failure(error)
        }
        continuation.finish()
        await stopped.wait()
        return try result.get()
    }

    private static func start(
        _ descriptor: CInt, _ clock: any MonotonicClock, _ bufferSize: Int,
        _ continuation: AsyncThrowingStream<GNSSChunk, any Error>.Continuation,
        onExit: @escaping @Sendable () -> Void
    ) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            continuation.finish(throwing: SerialIOError.last("fcntl"))
            onExit()
            return
        }
        var pipeEnds: [CInt] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            continuation.finish(throwing: SerialIOError.last("pipe"))
            onExit()
            return
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

/// A one-way gate: ``wait()`` returns once ``open()`` was called, before or after; cancellation does not end it.
private final class Latch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if !state.open { state.waiters.append(waiter) }
                return state.open
            }
            if open { waiter.resume() }
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
