import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a built executable of this package and captures what it prints.
struct Executable {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let url: URL

    /// The product `name` in the build directory the test bundle itself was built into.
    init(_ name: String) {
        var directory = Bundle.main.bundleURL
        let fileManager = FileManager.default
        // The test bundle lives in .build/<triple>/debug; walk up until the product is beside us.
        while !fileManager.isExecutableFile(atPath: directory.appendingPathComponent(name).path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        url = directory.appendingPathComponent(name)
    }

    /// The repository root (for the shipped boards/ and fixtures).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @discardableResult
    func run(
        _ arguments: [String], in directory: URL = Executable.repositoryRoot, stdin: Data? = nil,
        environment: [String: String] = [:]
    ) throws -> Output {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

/// A product started in the background with its standard input and output on pipes, for tests that talk to it
/// while it runs (interactive keys, servers). Its output is read continuously on a reader thread (a child that
/// logs a lot never blocks on a full pipe while the test waits on another process); waits block on a condition
/// signalled by each read, never on a timer.
final class RunningProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let condition = NSCondition()
    private var buffer = ""
    private var ended = false
    private var exited = false

    /// Everything read from standard output and error so far (they share one pipe).
    var text: String {
        condition.lock()
        defer { condition.unlock() }
        return buffer
    }

    init(_ executable: Executable, _ arguments: [String], in directory: URL = Executable.repositoryRoot) throws {
        process.executableURL = executable.url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        process.terminationHandler = { [weak self, condition] _ in
            condition.lock()
            self?.exited = true
            condition.broadcast()
            condition.unlock()
        }
        try process.run()
        let reader = output.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = reader.availableData
                condition.lock()
                if chunk.isEmpty { ended = true } else { buffer += String(decoding: chunk, as: UTF8.self) }
                condition.broadcast()
                condition.unlock()
                if chunk.isEmpty { return }
            }
        }
        thread.start()
    }

    /// Types `keys` into its standard input.
    func type(_ keys: String) {
        input.fileHandleForWriting.write(Data(keys.utf8))
    }

    /// Waits until `predicate` holds for its output so far (or the output ends); returns whether it held.
    @discardableResult
    func waitUntil(_ predicate: (String) -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !predicate(buffer) {
            if ended { return false }
            condition.wait()
        }
        return true
    }

    /// Waits until `predicate` holds for its output so far, the output ends, or `limit` has passed (a bound on
    /// the wait for an event, not a stand-in for it); returns whether it held.
    func waitUntil(within limit: Duration, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(Double(limit.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while !predicate(buffer) {
            if ended || !condition.wait(until: deadline) { return predicate(buffer) }
        }
        return true
    }

    /// Waits until the process has exited, for at most `limit`; returns whether it had.
    func waitForExit(within limit: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(limit.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while !exited {
            if !condition.wait(until: deadline) { return exited }
        }
        return true
    }

    /// Waits until its output has ended (every holder of the pipe's write end closed it), for at most `limit`;
    /// returns whether it had.
    func waitForEnd(within limit: Duration) -> Bool {
        _ = waitUntil(within: limit) { _ in false }
        condition.lock()
        defer { condition.unlock() }
        return ended
    }

    /// The processes that hold its output pipe open (pid, name, fd and whether for writing), from /proc: what the
    /// output's end waits for when the child has exited but the pipe is still open (a process spawned elsewhere
    /// that inherited the write end).
    var outputHolders: [String] { PipeHolders.of(output.fileHandleForReading.fileDescriptor) }

    /// Reads its output until `marker` has appeared in it (or the output ends); returns whether it did.
    @discardableResult
    func waitFor(_ marker: String) -> Bool { waitUntil { $0.contains(marker) } }

    /// How many times `marker` occurs in the output so far.
    func count(_ marker: String) -> Int { text.components(separatedBy: marker).count - 1 }

    /// Waits until `marker` occurs at least `count` times (or the output ends); returns whether it did.
    @discardableResult
    func waitForCount(_ marker: String, atLeast count: Int) -> Bool {
        waitUntil { $0.components(separatedBy: marker).count - 1 >= count }
    }

    /// Closes its input, reads the rest of its output and waits for it to exit.
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        waitUntil { _ in false }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Stops it (SIGTERM), waits for it to exit and for the rest of its output.
    func stop() {
        if process.isRunning { process.terminate() }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        waitUntil { _ in false }
    }

    /// Kills it with SIGKILL (no chance to clean up), waits for it to die.
    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A bounded wait that ran out, saying what it waited for.
struct WaitRanOut: Error, CustomStringConvertible {
    var description: String
}

extension RunningProcess {
    /// Starts `panicd run --config CONFIG` in `directory` and waits for its "ready" line, 30 s at most. Every wait
    /// of a daemon test is bounded and names what it waited for when it runs out: the test blocks a thread of the
    /// cooperative pool (one of two on the CI machine) while it waits, and a wait that never ended would hang the
    /// whole run — its output pipe, say, kept open by a process spawned elsewhere in the test process that
    /// inherited the write end.
    static func panicdRun(_ panicd: Executable, config: String, in directory: URL) throws -> RunningProcess {
        let daemon = try RunningProcess(panicd, ["run", "--config", config], in: directory)
        let ready = daemon.waitUntil(within: .seconds(30)) {
            $0.split(separator: "\n").contains { $0.hasSuffix(" ready") }
        }
        guard ready else {
            let state = daemon.process.isRunning ? "still running" : "exited"
            daemon.kill9()
            throw WaitRanOut(description: "no 'ready' line within 30 s (\(state)): \(daemon.text)")
        }
        return daemon
    }

    /// Sends SIGTERM and waits for the exit, `limit` at most (then SIGKILL, and 10 s more), and for the end of its
    /// output, 10 s at most (`outputHolders` names who keeps it open when it does not end). Returns whether it
    /// exited within `limit`, how long it took, and whether the output ended.
    func terminate(within limit: Duration) throws -> (stopped: Bool, took: Duration, ended: Bool) {
        let pid = process.processIdentifier
        let signalled = ContinuousClock.now
        kill(pid, SIGTERM)
        let stopped = waitForExit(within: limit)
        let took = ContinuousClock.now - signalled
        if !stopped {
            kill(pid, SIGKILL)
            guard waitForExit(within: .seconds(10)) else {
                throw WaitRanOut(description: "still running after SIGKILL")
            }
        }
        return (stopped, took, waitForEnd(within: .seconds(10)))
    }

    /// A clean stop of a daemon (`terminate(within:)`): it exited within the limit, with status 0, its output
    /// ended, and it said " stopped".
    func expectStoppedCleanly(
        _ stop: (stopped: Bool, took: Duration, ended: Bool), within limit: Duration,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let log = text
        #expect(stop.stopped, "still running \(limit) after SIGTERM: \(log)", sourceLocation: sourceLocation)
        #expect(
            stop.ended, "exited, but its output stayed open 10 s, held by: \(outputHolders)",
            sourceLocation: sourceLocation)
        #expect(process.terminationReason == .exit, sourceLocation: sourceLocation)
        #expect(process.terminationStatus == 0, "\(log)", sourceLocation: sourceLocation)
        #expect(log.contains(" stopped"), "\(log)", sourceLocation: sourceLocation)
    }
}

/// Who holds a pipe open, from /proc (Linux): every process with a descriptor on the same pipe inode.
enum PipeHolders {
    static func of(_ fd: CInt) -> [String] {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return ["fstat failed: errno \(errno)"] }
        let target = "pipe:[\(info.st_ino)]"
        let fileManager = FileManager.default
        var holders: [String] = []
        for pid in (try? fileManager.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(pid) != nil {
            for descriptor in (try? fileManager.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
                guard (try? fileManager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")) == target
                else { continue }
                let name =
                    (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? "?"
                let flags =
                    (try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(descriptor)", encoding: .utf8))?
                    .split(separator: "\n").first { $0.hasPrefix("flags:") }
                    .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0
                let mode = flags & Int(O_ACCMODE) == Int(O_WRONLY) ? "write" : "read"
                holders.append("pid \(pid) (\(name)) fd \(descriptor) \(mode)")
            }
        }
        return holders
    }
}
