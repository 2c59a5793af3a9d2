// libFuzzer entry point for the NMEA path: framer, parser and tracker, plus the TPV encoder, on arbitrary bytes.
// Build and run: `make fuzz-gnss` (swift build --product nmea-fuzz --sanitize fuzzer). In a plain `swift build`
// main.swift runs each file named on the command line once instead.
import NMEA
import PanicCore

#if canImport(Glibc)
    import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // The first byte picks the options and how the input is cut into chunks, so both are explored.
    let control = bytes[0]
    let input = UnsafeRawBufferPointer(rebasing: bytes[1...])
    var decoder = NMEADecoder(
        framing: .init(maxLength: control & 1 == 0 ? 256 : 16, requireChecksum: control & 2 == 0))
    var output: [UInt8] = []
    var fixes = 0
    let chunkSize = Int(control >> 2) + 1
    var start = 0
    var instant = MonotonicInstant.zero
    while start < input.count {
        let end = min(input.count, start + chunkSize)
        decoder.feed(UnsafeRawBufferPointer(rebasing: input[start..<end]), at: instant) { fix in
            TPVEncoder.append(fix, to: &output)
            fixes += 1
        }
        instant = instant.advanced(by: .milliseconds(100))
        start = end
    }
    decoder.finish(at: instant) { fix in
        TPVEncoder.append(fix, to: &output)
        fixes += 1
    }
    // Invariants: every framed sentence was either accepted or counted, and each epoch wrote one JSON line.
    let lines = output.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    precondition(lines == fixes, "one TPV line per epoch")
    precondition(decoder.statistics.accepted >= 0 && decoder.statistics.rejected >= 0)
    return 0
}

/// Feeds each file named on the command line to `fuzzOneInput` once; returns how many.
func replayFilesNamedOnTheCommandLine() -> Int {
    var count = 0
    for path in CommandLine.arguments.dropFirst() {
        guard let file = fopen(path, "rb") else {
            perror(path)
            exit(1)
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = fread(&buffer, 1, buffer.count, file)
            if got <= 0 { break }
            bytes += buffer[0..<got]
        }
        fclose(file)
        _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        print("\(path): ok (\(bytes.count) bytes)")
        count += 1
    }
    return count
}
