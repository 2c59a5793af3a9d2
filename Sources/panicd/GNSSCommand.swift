import ArgumentParser
import Foundation
import NMEA
import PanicCore

/// `panicd gnss …`: decode NMEA recordings and watch a live receiver.
struct GNSSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gnss",
        abstract: "Decode NMEA 0183 recordings and watch a live GNSS receiver.",
        subcommands: [Decode.self]
    )

    /// `panicd gnss decode [FILE|-]`: one gpsd TPV JSON object per epoch.
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode an NMEA recording into one gpsd-style TPV JSON object per epoch.",
            discussion: """
                Output uses gpsd's TPV names (class, mode, time, lat, lon, altHAE, altMSL, alt, track, speed in \
                m/s, …) so it can be compared with `gpsdecode -j`. With --stats, the counts of accepted and \
                rejected sentences by reason go to standard error after the fixes.
                """
        )

        @Argument(help: "NMEA recording to decode; '-' or nothing reads standard input.")
        var file: String = "-"

        @Flag(help: "Print counts of accepted and rejected sentences by reason to standard error.")
        var stats = false

        @Flag(help: "Accept sentences that carry no *HH checksum.")
        var allowMissingChecksum = false

        func run() throws {
            let input: FileHandle
            if file == "-" {
                input = .standardInput
            } else {
                guard let handle = FileHandle(forReadingAtPath: file) else {
                    throw ValidationError("\(file): cannot open for reading")
                }
                input = handle
            }
            var decoder = NMEADecoder(framing: .init(requireChecksum: !allowMissingChecksum))
            var output: [UInt8] = []
            output.reserveCapacity(1 << 16)
            let stdout = FileHandle.standardOutput
            while true {
                let chunk = input.readData(ofLength: 1 << 16)
                if chunk.isEmpty { break }
                chunk.withUnsafeBytes { bytes in
                    decoder.feed(bytes, at: .zero) { TPVEncoder.append($0, to: &output) }
                }
                if output.count > 1 << 15 {
                    stdout.write(Data(output))
                    output.removeAll(keepingCapacity: true)
                }
            }
            decoder.finish(at: .zero) { TPVEncoder.append($0, to: &output) }
            stdout.write(Data(output))
            if stats {
                FileHandle.standardError.write(Data((decoder.statistics.report + "\n").utf8))
            }
        }
    }
}
