// gnss-bench: sentences per second for parse-only and decode-to-JSON on one corpus, and gpsdecode's rate on
// the same bytes when it is installed. A benchmark, not a test: it prints figures and ratios, asserts nothing.
import Foundation
import NMEA
import PanicCore

let arguments = Array(CommandLine.arguments.dropFirst())
guard !arguments.isEmpty else {
    FileHandle.standardError.write(Data("usage: gnss-bench [--repeat N] FILE.log…\n".utf8))
    exit(2)
}
var repeatCount = 40
var files: [String] = []
var index = 0
while index < arguments.count {
    if arguments[index] == "--repeat", index + 1 < arguments.count {
        repeatCount = Int(arguments[index + 1]) ?? repeatCount
        index += 2
    } else {
        files.append(arguments[index])
        index += 1
    }
}

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

// Warm up once (page in the corpus, fill caches), then measure each path on the same corpus.
_ = parseOnly(corpus)
var parseResult = (framed: 0, parsed: 0, checksum: 0)
let parseTime = clock.measure { parseResult = parseOnly(corpus) }
var decodeResult = (epochs: 0, bytes: 0)
let decodeTime = clock.measure { decodeResult = decodeToJSON(corpus) }
let framed = parseResult.framed

print("corpus: \(files.count) files x \(repeatCount) = \(corpus.count) bytes, \(framed) framed sentences")
print("parse-only:     \(rate(framed, parseTime)) sentences/s  (\(parseResult.parsed) decoded, \(parseTime))")
print(
    "decode-to-JSON: \(rate(framed, decodeTime)) sentences/s  (\(decodeResult.epochs) TPV objects, \(decodeResult.bytes) bytes of JSON, \(decodeTime))"
)

// gpsdecode on the same bytes, from a file, output discarded.
let gpsdecode = ["/usr/bin/gpsdecode", "/usr/local/bin/gpsdecode"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}
if let gpsdecode {
    let path = NSTemporaryDirectory() + "gnss-bench-corpus-\(getpid()).log"
    _ = FileManager.default.createFile(atPath: path, contents: Data(corpus))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: gpsdecode)
    process.arguments = ["-j"]
    process.standardInput = FileHandle(forReadingAtPath: path)
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    let gpsdTime = try clock.measure {
        try process.run()
        process.waitUntilExit()
    }
    let gpsdRate = Double(framed) / seconds(gpsdTime)
    let ours = Double(framed) / seconds(decodeTime)
    print("gpsdecode -j:   \(rate(framed, gpsdTime)) sentences/s  (\(gpsdTime))")
    print(String(format: "ratio decode-to-JSON / gpsdecode: %.1fx", ours / gpsdRate))
} else {
    print("gpsdecode: not installed (apt-get install gpsd-clients) — no ratio")
}
if parseResult.checksum == -1 { print("") }  // keep the parse results observably used
