import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The installer's input tools behind `panicd inputs watch` and `panicd inputs test`.
public enum InputsTool {
    /// A problem with a script line or a board, said in the installer's words.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// One line of a simulated-board script.
    ///
    /// ```
    /// press NAME | release NAME        a button (NAME: board name or line name); NC loops open on press
    /// bounce NAME EDGES MS             EDGES alternating edges over MS milliseconds
    /// cut NAME | mend NAME             open / close a loop's wire
    /// open-enclosure | close-enclosure
    /// power-loss | power-restore
    /// ignition on|off
    /// wait DURATION                    e.g. 300ms, 12s, 2m
    /// # comment
    /// ```
    public enum ScriptCommand: Sendable, Equatable {
        case press(String), release(String), bounce(String, edges: Int, over: Duration), cut(String), mend(String)
        case openEnclosure, closeEnclosure, powerLoss, powerRestore, ignition(Bool)
        case wait(Duration)

        /// Parses one script line; nil for a blank or comment line.
        public static func parse(_ text: Substring, line number: Int) throws(Problem) -> ScriptCommand? {
            let words =
                text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
            guard let verb = words.first else { return nil }
            func argument(_ index: Int) throws(Problem) -> String {
                guard index < words.count else { throw Problem("script line \(number): \(verb) needs more arguments") }
                return words[index]
            }
            switch verb {
            case "press": return .press(try argument(1))
            case "release": return .release(try argument(1))
            case "cut": return .cut(try argument(1))
            case "mend": return .mend(try argument(1))
            case "bounce":
                guard let edges = Int(try argument(2)), let span = Int(try argument(3)), edges > 0, span >= 0 else {
                    throw Problem("script line \(number): bounce NAME EDGES MS, with whole numbers")
                }
                return .bounce(try argument(1), edges: edges, over: .milliseconds(span))
            case "open-enclosure": return .openEnclosure
            case "close-enclosure": return .closeEnclosure
            case "power-loss": return .powerLoss
            case "power-restore": return .powerRestore
            case "ignition":
                switch try argument(1) {
                case "on": return .ignition(true)
                case "off": return .ignition(false)
                default: throw Problem("script line \(number): ignition on|off")
                }
            case "wait": return .wait(try duration(try argument(1), line: number))
            default:
                throw Problem(
                    "script line \(number): unknown command \(verb) (press, release, bounce, cut, mend, "
                        + "open-enclosure, close-enclosure, power-loss, power-restore, ignition, wait)")
            }
        }

        static func duration(_ text: String, line number: Int) throws(Problem) -> Duration {
            let units: [(String, Duration)] = [("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60))]
            for (suffix, unit) in units where text.hasSuffix(suffix) {
                if let value = Int(text.dropLast(suffix.count)), value >= 0 { return unit * value }
            }
            throw Problem("script line \(number): \(text) is not a duration (300ms, 12s, 2m)")
        }

        /// Plays the command on the simulated lines (everything but `wait`).
        func apply(to lines: SimulatedInputLines) throws(SimulatedLineError) {
            switch self {
            case .press(let name): try lines.press(name)
            case .release(let name): try lines.release(name)
            case .bounce(let name, let edges, let span): try lines.bounce(name, edges: edges, over: span)
            case .cut(let name): try lines.cutWire(name)
            case .mend(let name): try lines.mendWire(name)
            case .openEnclosure: try lines.openEnclosure()
            case .closeEnclosure: try lines.closeEnclosure()
            case .powerLoss: try lines.losePower()
            case .powerRestore: try lines.restorePower()
            case .ignition(let on): try lines.ignition(on)
            case .wait: break
            }
        }
    }

    /// How `watch` prints one classified event: time, role, name and line, kind.
    public static func format(_ event: InputEvent, specs: [InputLineSpec]) -> String {
        let role = event.role.rawValue.padding(9)
        let line = "\(event.name) [\(specs[event.line].line)]".padding(34)
        return "\(event.at)  \(role) \(line) \(event.kind.rawValue)"
    }

    /// Watches a simulated board in virtual time, playing `script` (parsed script lines) and printing events.
    /// Returns when the script ends; events still pending at the end (a hold not yet over) are not printed.
    public static func watchSimulated(
        board: BoardDefinition, script: [ScriptCommand], print: @escaping @Sendable (String) -> Void
    ) async throws {
        let clock = ManualClock()
        let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
        let service = InputService(lines: lines, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            group.addTask {
                for await event in service.events { print(format(event, specs: board.inputs)) }
            }
            await service.watching()
            do {
                for command in script {
                    if case .wait(let duration) = command {
                        await service.caughtUp(to: lines.edgeCount)
                        clock.advance(by: duration)
                    } else {
                        try command.apply(to: lines)
                    }
                }
                await service.caughtUp(to: lines.edgeCount)
            } catch {
                lines.close()
                throw Problem("\(error)")
            }
            lines.close()
            try await group.waitForAll()
        }
    }

    /// Watches a board live on the system clock until the lines end or the task is cancelled: libgpiod for a
    /// `gpiod` board; for the simulated board, script lines typed on standard input (read as they come).
    public static func watchLive(board: BoardDefinition, print: @escaping @Sendable (String) -> Void) async throws {
        let clock = SystemMonotonicClock()
        switch board.backend {
        case .gpiod:
            let lines = try GPIODInputLines(specs: board.inputs)
            defer { lines.close() }
            print(
                "watching \(board.inputs.count) lines on \(Set(board.inputs.map(\.chip)).sorted().joined(separator: ", "))"
            )
            try await watch(lines: lines, clock: clock, print: print)
        case .simulated:
            let lines = SimulatedInputLines(specs: board.inputs, clock: clock)
            print("simulated board: type script lines (press help, wait 300ms, cut driver-emergency, …)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watch(lines: lines, clock: clock, print: print) }
                var number = 0
                for try await text in StandardInputLines.lines() {
                    number += 1
                    do {
                        guard let command = try ScriptCommand.parse(text[...], line: number) else { continue }
                        if case .wait(let duration) = command {
                            try await clock.sleep(for: duration)
                        } else {
                            try command.apply(to: lines)
                        }
                    } catch {
                        print("error: \(error)")
                    }
                }
                lines.close()
                try await group.waitForAll()
            }
        }
    }

    private static func watch(
        lines: any InputLines, clock: any MonotonicClock, print: @escaping @Sendable (String) -> Void
    ) async throws {
        let service = InputService(lines: lines, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            for await event in service.events { print(format(event, specs: lines.specs)) }
            try await group.waitForAll()
        }
    }

    /// Walks a board's outputs so an installer can check the wiring: LED on for a second, off, buzzer chirp.
    /// On the simulated board it runs in virtual time and prints the recorded changes.
    public static func test(board: BoardDefinition, print: @escaping @Sendable (String) -> Void) async throws {
        let steps: [(String, OutputRole, Bool, Duration)] = [
            ("LED on (it should light for 1 s)", .statusLED, true, .seconds(1)),
            ("LED off", .statusLED, false, .milliseconds(500)),
            ("buzzer chirp (150 ms)", .buzzer, true, .milliseconds(150)),
            ("buzzer off", .buzzer, false, .zero),
        ]
        switch board.backend {
        case .gpiod:
            let outputs = try GPIODOutputLines(specs: board.outputs)
            defer { outputs.close() }
            try await walk(outputs, steps: steps, print: print) { try await SystemMonotonicClock().sleep(for: $0) }
        case .simulated:
            let clock = ManualClock()
            let outputs = SimulatedOutputLines(specs: board.outputs, clock: clock)
            try await walk(outputs, steps: steps, print: print) { clock.advance(by: $0) }
            print("recorded output changes:")
            for change in outputs.changes { print("  \(change)") }
        }
    }

    private static func walk(
        _ outputs: any OutputLines, steps: [(String, OutputRole, Bool, Duration)],
        print: @Sendable (String) -> Void, pause: (Duration) async throws -> Void
    ) async throws {
        for (label, role, on, duration) in steps {
            guard let index = outputs.index(of: role) else {
                print("skipped: \(label) — the board has no \(role.rawValue) output")
                continue
            }
            print("\(label) — \(outputs.specs[index].name) [\(outputs.specs[index].line)]")
            try outputs.set(index, on: on)
            try await pause(duration)
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// Standard input as lines, read when the epoll thread says it is readable (no thread blocked in `read`).
enum StandardInputLines {
    static func lines() -> AsyncThrowingStream<String, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: String.self)
        let pending = Mutex<[UInt8]>([])
        do {
            let loop = try GPIODEventLoop(
                descriptors: [STDIN_FILENO],
                handler: { _ in
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = read(STDIN_FILENO, &buffer, buffer.count)
                    let lines = pending.withLock { pending -> [String] in
                        if count > 0 { pending += buffer[0..<count] } else if !pending.isEmpty { pending.append(10) }
                        var lines: [String] = []
                        while let newline = pending.firstIndex(of: 10) {
                            lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                            pending.removeSubrange(...newline)
                        }
                        return lines
                    }
                    for line in lines { continuation.yield(line) }
                    return count > 0
                }, onExit: { error in continuation.finish(throwing: error) })
            continuation.onTermination = { _ in loop.stop() }
        } catch {
            // Standard input is a regular file (epoll refuses those): read it whole; a file never blocks for long.
            var text: [String] = []
            while let line = readLine() { text.append(line) }
            for line in text { continuation.yield(line) }
            continuation.finish()
        }
        return stream
    }
}
