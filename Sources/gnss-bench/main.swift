// gnss-bench: sentences per second for parse-only and decode-to-JSON on one corpus, and gpsdecode's rate on
// the same bytes when it is installed. A benchmark, not a test: it prints figures and ratios, asserts nothing.
import Foundation
import NMEA
import PanicCore

let arguments = Array(CommandLine.arguments.dropFirst())
guard !arguments.isEmpty else {
    FileHandle.standardError.write(
        Data(
            "usage: gnss-bench [--repeat N] [--runs N] [--panicd PATH] FILE.log… | gnss-bench --decode | gnss-bench --parse\n"
                .utf8))
    exit(2)
}

/// `gnss-bench --decode`: standard input to TPV JSON on standard output, the loop of `panicd gnss decode` (64 KiB
/// reads into one reused buffer, output written in 32 KiB batches): the process the whole-process figure times.
func decodeStandardInput() -> Never {
    var decoder = NMEADecoder()
    var output: [UInt8] = []
    output.reserveCapacity(1 << 16)
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    func flush() {
        output.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { exit(1) }
                offset += written
            }
        }
        output.removeAll(keepingCapacity: true)
    }
    while true {
        let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        buffer.withUnsafeBytes { bytes in
            decoder.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), at: .zero) {
                TPVEncoder.append($0, to: &output)
            }
        }
        if output.count > 1 << 15 { flush() }
    }
    decoder.finish(at: .zero) { TPVEncoder.append($0, to: &output) }
    flush()
    exit(0)
}

/// `gnss-bench --parse`: standard input through framer and parser only (64 KiB reads), `framed N parsed M` on
/// standard output: the parse-only path in a process of its own, for counting instructions.
func parseStandardInput() -> Never {
    var framer = NMEAFramer()
    var parser = NMEAParser()
    var framed = 0
    var parsed = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        buffer.withUnsafeBytes { bytes in
            framer.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<count])) { frame in
                guard case .sentence(let body, _) = frame else { return }
                framed &+= 1
                if case .sentence = parser.parse(body) { parsed &+= 1 }
            }
        }
    }
    framer.finish { _ in }
    print("framed \(framed) parsed \(parsed)")
    exit(0)
}

if arguments == ["--decode"] { decodeStandardInput() }
if arguments == ["--parse"] { parseStandardInput() }

var repeatCount = 40
var runCount = 5
var panicd: String?
var files: [String] = []
var index = 0
while index < arguments.count {
    if arguments[index] == "--repeat", index + 1 < arguments.count {
        repeatCount = Int(arguments[index + 1]) ?? repeatCount
        index += 2
    } else if arguments[index] == "--runs", index + 1 < arguments.count {
        runCount = max(1, Int(arguments[index + 1]) ?? runCount)
        index += 2
    } else if arguments[index] == "--panicd", index + 1 < arguments.count {
        panicd = arguments[index + 1]
        index += 2
    } else {
        files.append(arguments[index])
        index += 1
    }
}

let runs = runCount

var recording: [UInt8] = []
for file in files {
    guard let data = FileManager.default.contents(atPath: file) else {
        FileHandle.standardError.write(Data("gnss-bench: cannot read \(file)\n".utf8))
        exit(1)
    }
    recording += data
    if recording.last != 0x0A { recording.append(0x0A) }
}
let corpus: [UInt8] = {
    var corpus: [UInt8] = []
    corpus.reserveCapacity(recording.count * repeatCount)
    for _ in 0..<repeatCount { corpus += recording }
    return corpus
}()

/// Feeds the corpus in 4 KiB chunks, as a serial read would deliver it.
func chunked(_ corpus: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
    corpus.withUnsafeBytes { all in
        var start = 0
        while start < all.count {
            let end = min(all.count, start + 4096)
            body(UnsafeRawBufferPointer(rebasing: all[start..<end]))
            start = end
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func rate(_ count: Int, _ duration: Duration) -> String {
    let perSecond = Double(count) / seconds(duration)
    return perSecond >= 1e6
        ? String(format: "%.2f M", perSecond / 1e6) : String(format: "%.0f k", perSecond / 1e3)
}

let clock = ContinuousClock()

/// Parse only: framer + parser, every sentence decoded into its typed struct, nothing kept.
func parseOnly(_ corpus: [UInt8]) -> (framed: Int, parsed: Int, checksum: Int) {
    var framed = 0
    var parsed = 0
    var checksum = 0
    var framer = NMEAFramer()
    var parser = NMEAParser()
    chunked(corpus) { chunk in
        framer.feed(chunk) { frame in
            if case .sentence(let body, _) = frame {
                framed &+= 1
                if case .sentence(let sentence) = parser.parse(body) {
                    parsed &+= 1
                    checksum &+= sentence.time?.second ?? 0
                }
            }
        }
    }
    return (framed, parsed, checksum)
}

/// Decode to JSON: framer + parser + tracker + TPV encoder into a reused buffer.
func decodeToJSON(_ corpus: [UInt8]) -> (epochs: Int, bytes: Int) {
    var decoder = NMEADecoder()
    var output: [UInt8] = []
    output.reserveCapacity(1 << 20)
    var epochs = 0
    var written = 0
    chunked(corpus) { chunk in
        decoder.feed(chunk, at: .zero) { fix in
            TPVEncoder.append(fix, to: &output)
            epochs &+= 1
        }
        if output.count > 1 << 19 {
            written &+= output.count
            output.removeAll(keepingCapacity: true)
        }
    }
    return (epochs, written + output.count)
}

/// The peer for parse-only: the same corpus in the same chunks, lines found with memchr and nothing decoded.
func memchrLines(_ corpus: [UInt8]) -> Int {
    var lines = 0
    chunked(corpus) { chunk in
        var cursor = chunk.baseAddress!
        let end = chunk.baseAddress! + chunk.count
        while cursor < end, let found = memchr(cursor, 0x0A, end - cursor) {
            lines &+= 1
            cursor = UnsafeRawPointer(found) + 1
        }
    }
    return lines
}

/// This thread's CPU time: the in-process figures count the time the benchmark ran, not the time other work on a
/// shared machine held the cores (the wall time is printed beside it).
func threadCPUTime() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
}

/// The best (shortest) CPU and wall times of `runs` runs of `body`, after one warm-up run (pages in the corpus,
/// fills the caches).
func best<R>(_ body: () -> R) -> (result: R, cpu: Duration, wall: Duration) {
    var result = body()
    var fastestCPU = Duration.seconds(1_000_000)
    var fastestWall = Duration.seconds(1_000_000)
    for _ in 0..<runs {
        let started = (cpu: threadCPUTime(), wall: clock.now)
        result = body()
        fastestCPU = min(fastestCPU, started.cpu.duration(to: threadCPUTime()))
        fastestWall = min(fastestWall, started.wall.duration(to: clock.now))
    }
    return (result, fastestCPU, fastestWall)
}

extension Duration {
    func duration(to other: Duration) -> Duration { other - self }
}

let parse = best { parseOnly(corpus) }
let scan = best { memchrLines(corpus) }
let decode = best { decodeToJSON(corpus) }
let framed = parse.result.framed
let parseRate = Double(framed) / seconds(parse.cpu)

func figure(_ count: Int, _ timing: (cpu: Duration, wall: Duration)) -> String {
    "\(rate(count, timing.cpu))/s CPU (\(fixed(seconds(timing.cpu) * 1e3, 2)) ms; wall \(fixed(seconds(timing.wall) * 1e3, 2)) ms)"
}

func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

print(
    "corpus: \(files.count) files x \(repeatCount) = \(corpus.count) bytes, \(framed) framed sentences; best of \(runs) runs"
)
print("parse-only:     \(figure(framed, (parse.cpu, parse.wall))) sentences, \(parse.result.parsed) decoded")
print(
    "  peer, memchr line scan of the same chunks: \(figure(scan.result, (scan.cpu, scan.wall))) lines; parse-only \(fixed(seconds(parse.cpu) / seconds(scan.cpu), 1))x its time"
)
print(
    "decode-to-JSON: \(figure(framed, (decode.cpu, decode.wall))) sentences, \(decode.result.epochs) TPV objects, \(decode.result.bytes) bytes"
)
print("goal parse-only >= 10 M sentences/s: \(parseRate >= 10e6 ? "met" : "NOT met") (\(fixed(parseRate / 1e6, 2)) M)")

/// One child process's wall and CPU time (user + system, from wait4): stdin from `input`, stdout to /dev/null.
func timeProcess(_ argv: [String], input: String) -> (wall: Double, cpu: Double)? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { for argument in cArguments { free(argument) } }
    var pid: pid_t = 0
    let started = clock.now
    guard posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ) == 0 else { return nil }
    var status: CInt = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = seconds(started.duration(to: clock.now))
    guard status == 0 else { return nil }
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return (wall, value(usage.ru_utime) + value(usage.ru_stime))
}

/// The best wall and the best CPU time of `runs` runs of one command.
func bestProcess(_ argv: [String], input: String) -> (wall: Double, cpu: Double)? {
    var bestWall = Double.infinity
    var bestCPU = Double.infinity
    for _ in 0..<runs {
        guard let time = timeProcess(argv, input: input) else { return nil }
        bestWall = min(bestWall, time.wall)
        bestCPU = min(bestCPU, time.cpu)
    }
    return (bestWall, bestCPU)
}

// Whole process: each decoder started on the corpus file as its standard input, JSON to /dev/null.
let gpsdecode = ["/usr/bin/gpsdecode", "/usr/local/bin/gpsdecode"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}
let path = NSTemporaryDirectory() + "gnss-bench-corpus-\(getpid()).log"
_ = FileManager.default.createFile(atPath: path, contents: Data(corpus))
defer { try? FileManager.default.removeItem(atPath: path) }
let ourCommands: [(String, [String])] =
    [("gnss-bench --decode", [CommandLine.arguments[0], "--decode"])]
    + (panicd.map { [("panicd gnss decode", [$0, "gnss", "decode"])] } ?? [])
func processLine(_ name: String, _ time: (wall: Double, cpu: Double)) -> String {
    let padded = name.padding(toLength: 20, withPad: " ", startingAt: 0)
    return
        "  \(padded) wall \(fixed(time.wall, 4)) s, CPU \(fixed(time.cpu, 4)) s  (\(rate(framed, .seconds(time.wall))) sentences/s)"
}

print("whole process, corpus file on stdin, JSON to /dev/null (best of \(runs)):")
var ours: [(String, (wall: Double, cpu: Double))] = []
for (name, argv) in ourCommands {
    guard let time = bestProcess(argv, input: path) else {
        print("  \(name): failed")
        continue
    }
    ours.append((name, time))
    print(processLine(name, time))
}
if let gpsdecode, let gpsd = bestProcess([gpsdecode, "-j"], input: path) {
    print(processLine("gpsdecode -j", gpsd))
    for (name, time) in ours {
        let wallRatio = gpsd.wall / time.wall
        let cpuRatio = gpsd.cpu / time.cpu
        let met = wallRatio >= 25 && cpuRatio >= 25 ? "met" : "NOT met"
        print(
            "ratio \(name) / gpsdecode: wall \(fixed(wallRatio, 1))x, CPU \(fixed(cpuRatio, 1))x; goal >= 25x: \(met)")
    }
} else {
    print("gpsdecode: not installed (apt-get install gpsd-clients) — no ratio")
}
if parse.result.checksum == -1 { print("") }  // keep the parse results observably used
