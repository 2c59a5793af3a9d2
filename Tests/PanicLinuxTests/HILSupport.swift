import Foundation
import PanicCore
import Synchronization
import SystemPackage
import Testing

@testable import PanicLinux

#if canImport(Glibc)
    import Glibc
#endif

/// The hardware-in-the-loop rig's side of the tests: the gpio-sim banks `scripts/hil/guest.sh` makes in the
/// QEMU guest (`make hil-test`), and the GNSS receiver `scripts/hil/run.py` plays on the guest's `/dev/ttyS1`.
///
/// Everywhere else there is no chip labelled `panic-sim` and the ``HIL`` suites are skipped.
enum SimBank {
    /// The bank's chip label (guest.sh); lines 0-7 are boards/gpio-sim.yaml's, 8-15 the suites' own.
    static let label = "panic-sim"
    /// The second chip, for finding a line by name on any chip.
    static let auxLabel = "panic-sim-aux"

    static let chip: GPIODChipInfo? = (try? GPIODChipInfo.all())?.first { $0.label == label }

    /// The line's gpio-sim attribute directory (`sim_gpioN` under the chip's device in sysfs).
    static func attribute(_ offset: Int, _ name: String) -> String {
        "/sys/bus/gpio/devices/\(chip?.name ?? "none")/sim_gpio\(offset)/\(name)"
    }

    /// "Wires" line `offset` high or low: gpio-sim's simulated pull, which an input line then reads.
    static func pull(_ offset: Int, high: Bool) throws {
        try write(high ? "pull-up" : "pull-down", to: attribute(offset, "pull"))
    }

    /// The level line `offset` is at: an output's driven value, or an input's pull.
    static func level(_ offset: Int) throws -> Bool {
        let text = try String(contentsOfFile: attribute(offset, "value"), encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    static func write(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SerialIOError.last("open", path: path) }
        defer { close(descriptor) }
        let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        guard written >= 0 else { throw SerialIOError.last("write", path: path) }
    }
}

/// A wait that gave up: what was awaited, and for how long.
struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var after: Duration
    var description: String { "timed out after \(after) waiting for \(what)" }
}

/// What ``Inbox`` finds when a consumer asks.
private enum Taken<Value> {
    case value(Value)
    case end((any Error)?)
    case wait
}

/// Receives values from a producer task and hands them out one at a time, each with a deadline, so a value
/// that never comes fails its test within seconds instead of at the suite's time limit.
final class Inbox<Value: Sendable>: Sendable {
    private struct State {
        var values: [Value] = []
        /// Everything ever put, for a failing test's message.
        var history: [Value] = []
        var finished: (any Error)?? = nil
        var waiter: CheckedContinuation<Value?, any Error>?
    }
    private let state = Mutex(State())

    func put(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, any Error>? in
            state.history.append(value)
            guard let waiter = state.waiter else {
                state.values.append(value)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: value)
    }

    /// Every value put so far.
    var history: [Value] { state.withLock { $0.history } }

    func finish(_ error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, any Error>? in
            state.finished = .some(error)
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    /// The next value; nil once the producer finished; throws ``TimedOut`` after `timeout`.
    func next(_ what: String, within timeout: Duration = .seconds(10)) async throws -> Value? {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await self.take() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut(what: what, after: timeout)
            }
            defer { group.cancelAll() }
            let first = try await group.next()!
            return first
        }
    }

    private func take() async throws -> Value? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Value?, any Error>) in
                let now = state.withLock { state -> Taken<Value> in
                    if !state.values.isEmpty { return .value(state.values.removeFirst()) }
                    if let finished = state.finished { return .end(finished) }
                    // Cancelled before the waiter was registered: onCancel found nothing to resume.
                    if Task.isCancelled { return .end(CancellationError()) }
                    state.waiter = waiter
                    return .wait
                }
                switch now {
                case .value(let value): waiter.resume(returning: value)
                case .end(let error?): waiter.resume(throwing: error)
                case .end(nil): waiter.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Values until `predicate` holds (returned last), all within `timeout`.
    func until(
        _ what: String, within timeout: Duration = .seconds(10), _ predicate: (Value) -> Bool
    ) async throws -> [Value] {
        var seen: [Value] = []
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while let value = try await next(what, within: max(.zero, clock.now.duration(to: deadline))) {
            seen.append(value)
            if predicate(value) { return seen }
        }
        throw TimedOut(what: "\(what) (the stream ended)", after: .zero)
    }

    /// Drains `sequence` into a new inbox from a task; the task ends with the sequence or when cancelled.
    static func draining<S: AsyncSequence & Sendable>(_ sequence: S) -> (Inbox<Value>, Task<Void, Never>)
    where S.Element == Value {
        let inbox = Inbox<Value>()
        let task = Task {
            do {
                for try await value in sequence { inbox.put(value) }
                inbox.finish()
            } catch {
                inbox.finish(error)
            }
        }
        return (inbox, task)
    }
}

/// The GNSS receiver the rig's host plays on the guest's `/dev/ttyS1` (scripts/hil/run.py): it obeys
/// `HIL:` command lines written to the UART.
enum SimReceiver {
    static let port = "/dev/ttyS1"

    /// Writes one command line to the UART, through a descriptor of its own (the reader keeps its own open).
    static func command(_ line: String) throws {
        // Non-blocking open: without CLOCAL a tty's open waits for carrier detect, which nothing asserts here.
        let descriptor = open(port, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw SerialIOError.last("open", path: port) }
        defer { close(descriptor) }
        guard fcntl(descriptor, F_SETFL, 0) == 0 else { throw SerialIOError.last("fcntl", path: port) }
        let text = "\r\nHIL:\(line)\r\n"
        let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        guard written == text.utf8.count else { throw SerialIOError.last("write", path: port) }
        // The command must be on the wire before the caller waits for its answer.
        guard tcdrain(descriptor) == 0 else { throw SerialIOError.last("tcdrain", path: port) }
    }
}

/// A child process through `posix_spawn`, its standard output or error on a pipe.
///
/// Not Foundation's `Process`: in the rig's guest its run-loop wake-up socket cannot be made ("Could not create
/// wakeup socket pair for CFSocket") and `waitUntilExit` never returns.
struct Child {
    let pid: pid_t
    /// The read end of the child's standard output (or error, with `stderr: true`).
    let output: CInt

    /// Starts `path ARGUMENTS`; `input`, if any, is written to its standard input, which is then closed.
    init(_ path: String, _ arguments: [String], stderr: Bool = false, input: [UInt8]? = nil) throws {
        var out: [CInt] = [-1, -1]
        var stdin: [CInt] = [-1, -1]
        guard pipe(&out) == 0, pipe(&stdin) == 0 else { throw SerialIOError.last("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin[0], 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], stderr ? 2 : 1)
        for end in stdin + out { posix_spawn_file_actions_addclose(&actions, end) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(stdin[0])
        close(out[1])
        guard result == 0 else {
            close(stdin[1])
            close(out[0])
            throw SerialIOError(call: "posix_spawn", errno: Errno(rawValue: result), path: path)
        }
        if let input {
            _ = input.withUnsafeBytes { write(stdin[1], $0.baseAddress, $0.count) }
        }
        close(stdin[1])
        self.pid = pid
        self.output = out[0]
    }

    /// Reads the pipe to its end (the child exited or closed it).
    func readAll() -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count < 0, Glibc.errno == EINTR { continue }
            guard count > 0 else { break }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Waits for the child to exit; its exit status, or 128 + the signal that ended it.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && Glibc.errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Runs `path ARGUMENTS` to the end: its standard output and exit status.
    static func run(
        _ path: String, _ arguments: [String], input: [UInt8]? = nil
    ) throws -> (
        output: String, status: Int32
    ) {
        let child = try Child(path, arguments, input: input)
        let output = child.readAll()
        close(child.output)
        return (output, child.wait())
    }
}
