// inputs-bench: the idle cost of watching 32 input lines, and the time from an edge to its classified event.
// Not a test: it prints figures, each next to a peer measured in the same run. `make bench-inputs`.
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

let seconds = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 10
let clock = SystemMonotonicClock()

func voluntarySwitches() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_nvcsw
}

func line(_ index: Int, debounce: Duration = .milliseconds(20), hold: Duration? = nil) -> InputLineSpec {
    InputLineSpec(
        name: "button-\(index)", role: index == 0 ? .emergency : .help, chip: "sim", line: .offset(index),
        contact: .normallyOpen, closedLevel: .low, bias: .pullUp, debounce: debounce, hold: hold)
}

func rate(_ count: Int, _ duration: Duration) -> String {
    let perSecond =
        Double(count) / (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    return "\((perSecond * 100).rounded() / 100)/s"
}

print("inputs-bench: \(seconds) s per idle phase, 32 lines")

// Baseline: the process asleep with nothing watched, so the rows below can be read as differences.
do {
    let before = voluntarySwitches()
    let start = clock.now
    try await clock.sleep(for: .seconds(seconds))
    let elapsed = start.duration(to: clock.now)
    let switches = voluntarySwitches() - before
    print("baseline: process asleep:      process voluntary context switches \(switches) (\(rate(switches, elapsed)))")
}

// 1. The libgpiod backend's event thread on 32 real descriptors (pipes standing in for line event fds).
do {
    var pipes: [(Int32, Int32)] = []
    for _ in 0..<32 {
        var ends: [Int32] = [0, 0]
        _ = pipe(&ends)
        pipes.append((ends[0], ends[1]))
    }
    let loop = try GPIODEventLoop(descriptors: pipes.map(\.0), handler: { _ in true }, onExit: { _ in })
    let before = voluntarySwitches()
    let start = clock.now
    try await clock.sleep(for: .seconds(seconds))
    let elapsed = start.duration(to: clock.now)
    let switches = voluntarySwitches() - before
    let wakeups = loop.wakeups.load(ordering: .relaxed)
    loop.join()
    for (read, write) in pipes {
        close(read)
        close(write)
    }
    print(
        "idle epoll loop, 32 fds:       \(wakeups) wakeups (\(rate(wakeups, elapsed))), process voluntary context switches \(switches) (\(rate(switches, elapsed)))"
    )
}

// 2. The whole input service (sim backend, classifier, timers) watching 32 idle lines.
do {
    let lines = SimulatedInputLines(specs: (0..<32).map { line($0) }, clock: clock)
    let service = InputService(lines: lines, clock: clock)
    let before = voluntarySwitches()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await service.run() }
        await service.watching()
        try await clock.sleep(for: .seconds(seconds))
        lines.close()
        try await group.waitForAll()
    }
    let elapsed = start.duration(to: clock.now)
    let switches = voluntarySwitches() - before
    print("idle input service, 32 lines:  process voluntary context switches \(switches) (\(rate(switches, elapsed)))")
}

// Peer: what a 100 ms polling loop (the old Swift GPIO wrappers' way) costs over the same time.
do {
    let before = voluntarySwitches()
    let start = clock.now
    var polls = 0
    while start.duration(to: clock.now) < .seconds(seconds) {
        var spec = timespec(tv_sec: 0, tv_nsec: 100_000_000)
        nanosleep(&spec, nil)
        polls += 1
    }
    let elapsed = start.duration(to: clock.now)
    let switches = voluntarySwitches() - before
    print(
        "peer: 100 ms polling loop:     \(polls) wakeups (\(rate(polls, elapsed))), voluntary context switches \(switches) (\(rate(switches, elapsed)))"
    )
}

// 3. Edge to classified event through the service, on the system clock. Debounce 1 ms, hold 0: the figure
// is the 1 ms debounce window plus the machinery's own delay; the overhead column subtracts the window.
do {
    let specs = (0..<32).map { line($0, debounce: .milliseconds(1), hold: .zero) }
    let lines = SimulatedInputLines(specs: specs, clock: clock)
    let service = InputService(lines: lines, clock: clock)
    var latencies: [Duration] = []
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await service.run() }
        await service.watching()
        var events = service.events.makeAsyncIterator()
        for round in 0..<1_000 {
            let name = "button-\(round % 32)"
            let start = clock.now
            try lines.press(name, at: start)
            _ = await events.next()
            latencies.append(start.duration(to: clock.now))
            try lines.release(name)
            _ = await events.next()
        }
        lines.close()
        try await group.waitForAll()
    }
    latencies.sort()
    func microseconds(_ duration: Duration) -> Int { Int(duration / .microseconds(1)) }
    let p50 = latencies[latencies.count / 2]
    let p99 = latencies[latencies.count * 99 / 100]
    print(
        "edge -> classified event (\(latencies.count) presses): p50 \(microseconds(p50)) µs, p99 \(microseconds(p99)) µs; "
            + "overhead beyond the 1 ms debounce: p50 \(microseconds(p50 - .milliseconds(1))) µs, p99 \(microseconds(p99 - .milliseconds(1))) µs"
    )
}

// Peer: the pure classifier's cost per edge (no I/O, no timers).
do {
    var classifier = InputClassifier(
        specs: (0..<32).map { line($0, hold: .zero) }, initiallyClosed: Array(repeating: false, count: 32), now: .zero)
    let count = 1_000_000
    let start = clock.now
    var events = 0
    for edge in 0..<count {
        let at = MonotonicInstant.zero.advanced(by: .milliseconds(edge))
        events += classifier.edge(line: edge % 32, closed: (edge / 32) % 2 == 0, at: at).events.count
    }
    let elapsed = start.duration(to: clock.now)
    print(
        "peer: classifier alone:        \(Int(elapsed / .nanoseconds(1)) / count) ns per edge over \(count) edges (\(events) events)"
    )
}
