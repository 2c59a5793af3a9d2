import CGPIOD
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One thread waiting in `epoll_wait` on a set of file descriptors, with an `eventfd` to stop it.
///
/// The pattern of swift-subprocess's `AsyncIO+Linux.swift`: the thread sleeps in the kernel until a descriptor
/// is readable (no polling, no timeout), calls the handler for it, and leaves when ``stop()`` signals the
/// eventfd. The GPIO backend hands it the line event descriptors; the benchmark hands it plain eventfds.
public final class GPIODEventLoop: Sendable {
    /// Called on the loop's thread with the index of the readable descriptor; returns false to end the loop.
    public typealias Handler = @Sendable (Int) -> Bool

    private let epoll: Int32
    private let stopEvent: Int32
    private let thread: Mutex<pthread_t?>
    private let stopped = Atomic<Bool>(false)
    /// How many times `epoll_wait` returned: the loop's wakeups, for the idle-cost benchmark.
    public let wakeups = Atomic<Int>(0)

    /// Watches `descriptors` (the handler gets their index) and starts the thread.
    /// `onExit` runs on the thread as it leaves, with the error that ended it, if any.
    public init(
        descriptors: [Int32], handler: @escaping Handler, onExit: @escaping @Sendable ((GPIODError)?) -> Void
    ) throws(GPIODError) {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw GPIODError(call: "epoll_create1", errno: Errno(rawValue: Glibc.errno)) }
        let stopEvent = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard stopEvent >= 0 else {
            let code = Glibc.errno
            close(epoll)
            throw GPIODError(call: "eventfd", errno: Errno(rawValue: code))
        }
        let stopToken = UInt64(descriptors.count)
        for (index, descriptor) in (descriptors + [stopEvent]).enumerated() {
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data(u64: UInt64(index)))
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else {
                let code = Glibc.errno
                close(stopEvent)
                close(epoll)
                throw GPIODError(call: "epoll_ctl", errno: Errno(rawValue: code))
            }
        }
        self.epoll = epoll
        self.stopEvent = stopEvent
        self.thread = Mutex(nil)
        let body: @Sendable () -> Void = { [epoll] in
            var events = [epoll_event](repeating: epoll_event(), count: 64)
            var failure: GPIODError?
            loop: while true {
                let count = epoll_wait(epoll, &events, Int32(events.count), -1)
                if count < 0 {
                    let code = Glibc.errno
                    if code == EINTR { continue }
                    failure = GPIODError(call: "epoll_wait", errno: Errno(rawValue: code))
                    break
                }
                self.wakeups.add(1, ordering: .relaxed)
                for event in events[0..<Int(count)] {
                    let token = event.data.u64
                    if token == stopToken { break loop }
                    if !handler(Int(token)) { break loop }
                }
            }
            onExit(failure)
        }
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { argument in
                let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            close(stopEvent)
            close(epoll)
            throw GPIODError(call: "pthread_create", errno: Errno(rawValue: result))
        }
        thread.withLock { $0 = handle }
    }

    /// Sets `descriptor` non-blocking, so a read finds the kernel's queue empty (`EAGAIN`) instead of waiting: the
    /// event thread and ``InputLines/deliverQueued()`` both read the same line descriptors, and whichever comes
    /// second must not sleep inside the lock they share.
    public static func makeNonBlocking(_ descriptor: Int32) throws(GPIODError) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw GPIODError(call: "fcntl(O_NONBLOCK)", errno: Errno(rawValue: Glibc.errno))
        }
    }

    /// Asks the thread to leave; safe from any thread, including the loop's own (from a handler). Idempotent.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = write(stopEvent, &one, MemoryLayout<UInt64>.size)
    }

    /// Stops the thread and waits for it to leave, then closes the loop's descriptors. Not from the loop's thread.
    public func join() {
        stop()
        guard
            let handle = thread.withLock({ state -> pthread_t? in
                defer { state = nil }
                return state
            })
        else { return }
        // The last reference can go away on the loop's own thread, as it leaves; it cannot join itself.
        if pthread_equal(handle, pthread_self()) != 0 {
            pthread_detach(handle)
        } else {
            pthread_join(handle, nil)
        }
        close(stopEvent)
        close(epoll)
    }

    deinit { join() }
}

/// Carries the thread's closure through `pthread_create`'s `void *`.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
