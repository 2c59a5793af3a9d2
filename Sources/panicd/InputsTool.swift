import PanicConfig
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import PanicSimulation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The installer's input tools behind `panicd inputs watch` and `panicd inputs test`.
enum InputsTool {
    /// A problem with a script line or a board, said in the installer's words.
    struct Problem: Error, Sendable, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// How `watch` prints one classified event: time, role, name and line, kind.
    static func format(_ event: InputEvent, specs: [InputLineSpec]) -> String {
        let role = event.role.rawValue.padding(9)
        let line = "\(event.name) [\(specs[event.line].line)]".padding(34)
        return "\(event.at)  \(role) \(line) \(event.kind.rawValue)"
    }

    /// Watches a simulated board in virtual time, playing `script` (parsed script lines) and printing events.
    /// Returns when the script ends; events still pending at the end (a hold not yet over) are not printed.
    static func watchSimulated(
        board: BoardDefinition, script: [InputScript.Line], print: @escaping @Sendable (String) -> Void
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
                    switch command {
                    case .wait(let duration):
                        await service.caughtUp(to: lines.edgeCount)
                        clock.advance(by: duration)
                    case .act(let action):
                        guard try lines.perform(action) else { throw Problem("\(action) is not an act on the lines") }
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
    static func watchLive(board: BoardDefinition, print: @escaping @Sendable (String) -> Void) async throws {
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
                        switch try InputScript.parse(text[...], line: number) {
                        case .wait(let duration)?: try await clock.sleep(for: duration)
                        case .act(let action)?:
                            if try !lines.perform(action) { print("error: \(action) is not an act on the lines") }
                        case nil: continue
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
    static func test(board: BoardDefinition, print: @escaping @Sendable (String) -> Void) async throws {
        let steps: [(String, OutputRole, Bool, Duration)] = [
            ("LED on (it should light for 1 s)", .statusLED, true, .seconds(1)),
            ("LED off", .statusLED, false, .milliseconds(500)),
            ("buzzer chirp (150 ms)", .buzzer, true, .milliseconds(150)),
            ("buzzer off", .buzzer, false, .zero),
        ]
        switch board.backend {
        case .gpiod:
            let outputs = try LinuxOutputLines(specs: board.outputs)
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
