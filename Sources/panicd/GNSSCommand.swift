import ArgumentParser
import Foundation
import Logging
import NMEA
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import Synchronization

/// `panicd gnss …`: decode NMEA recordings and watch a live receiver.
struct GNSSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gnss",
        abstract: "Decode NMEA 0183 recordings and watch a live GNSS receiver.",
        subcommands: [Decode.self, Watch.self]
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

    /// `panicd gnss watch`: the live fix, for installers.
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the live fix from a serial receiver or from gpsd, one line per epoch.",
            discussion: """
                With --port, the receiver is opened through libserialport (8N1) and re-opened with backoff if it \
                goes away; --termios opens it with plain termios instead (pseudo-terminals, odd USB adapters). \
                With --gpsd, gpsd's JSON reports are used, for boards where gpsd already owns the receiver. \
                --json prints gpsd-style TPV lines instead of the summary. With --live, the daemon's own view \
                of its receiver comes from its status socket once a second, and the receiver stays with the daemon.
                """
        )

        @Flag(help: "Watch the running daemon's fix (its status socket) instead of opening a receiver.")
        var live = false

        @OptionGroup var socket: SocketOption

        @Option(help: "Serial device of the receiver, e.g. /dev/ttyUSB0 or /dev/ttyAMA0.")
        var port: String?

        @Option(help: "Baud rate of the serial receiver.")
        var baud = 9600

        @Flag(help: "Open --port with plain termios instead of libserialport (needed for pseudo-terminals).")
        var termios = false

        @Option(help: "gpsd to watch instead of a port, as HOST:PORT (default port 2947).")
        var gpsd: String?

        @Flag(help: "Print gpsd-style TPV JSON lines instead of the summary.")
        var json = false

        @Option(help: "Stop after this many epochs (0: run until interrupted).")
        var count = 0

        func validate() throws {
            guard live || (port == nil) != (gpsd == nil) else {
                throw ValidationError("give exactly one of --port, --gpsd or --live")
            }
        }

        func run() async throws {
            if live {
                try socket.read(.gnss, count: count) { message in
                    guard case .gnss(let report) = message else { return }
                    print(json ? StatusCommand.json(report) : Self.summary(report))
                    fflush(nil)
                }
                return
            }
            let clock = SystemMonotonicClock()
            var logger = Logger(label: "panicd.gnss") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .info
            let source: any GNSSFixSource
            if let gpsd {
                guard let gpsdSource = GPSDSource(address: gpsd, clock: clock) else {
                    throw ValidationError("--gpsd \(gpsd): expected HOST or HOST:PORT")
                }
                source = gpsdSource
            } else if let port, termios {
                let pty = PTYSource(path: port, baud: baud, clock: clock)
                source = NMEAFixSource(GNSSSerialSource(path: port, clock: clock, logger: logger) { try pty.chunks() })
            } else {
                source = NMEAFixSource(GNSSSerialSource(path: port ?? "", baud: baud, clock: clock, logger: logger))
            }
            let printer = WatchPrinter(json: json, limit: count)
            do {
                try await source.run { fixes in try printer.take(fixes, now: clock.now) }
            } catch is WatchPrinter.Done {
                return
            }
        }
    }
}

/// Decodes a watch stream and prints each epoch; shared by the source callback, so its state sits in a mutex.
final class WatchPrinter: Sendable {
    struct Done: Error {}

    private let json: Bool
    private let limit: Int
    private let printed = Mutex(0)

    init(json: Bool, limit: Int) {
        self.json = json
        self.limit = limit
    }

    func take(_ fixes: [GNSSFix], now: MonotonicInstant) throws {
        var text = ""
        let done = printed.withLock { printed -> Bool in
            for fix in fixes {
                text += (json ? TPVEncoder.line(fix) : Self.summary(fix, now: now)) + "\n"
                printed += 1
                if limit > 0 && printed >= limit { return true }
            }
            return false
        }
        if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
        if done { throw Done() }
    }

    static func summary(_ fix: GNSSFix, now: MonotonicInstant) -> String {
        let mode = ["no mode", "no fix", "2D", "3D"][fix.mode.rawValue]
        var parts = ["\(fix.date.map { "\($0)" } ?? "----------") \(fix.time.map { "\($0)" } ?? "--:--:--.---")", mode]
        if fix.hasPosition, let latitude = fix.latitude, let longitude = fix.longitude {
            parts.append(String(format: "%.6f,%.6f", latitude, longitude))
        }
        if let altitude = fix.altitudeMSL { parts.append(String(format: "alt %.1f m", altitude)) }
        if let speed = fix.speed { parts.append(String(format: "%.1f km/h", speed * 3.6)) }
        if let hdop = fix.hdop { parts.append(String(format: "HDOP %.1f", hdop)) }
        let used = Constellation.allCases.filter { fix.usedByConstellation[$0] > 0 }
            .map { "\($0) \(fix.usedByConstellation[$0])" }
        if !used.isEmpty { parts.append("used: " + used.joined(separator: ", ")) }
        if fix.dateSuspect { parts.append("DATE SUSPECT (GPS week rollover?)") }
        parts.append("age \(fix.age(at: now))")
        return parts.joined(separator: "  ")
    }
}

extension GNSSCommand.Watch {
    /// One line of the daemon's receiver view: fix or not, position, age, satellites, time source.
    static func summary(_ report: StatusMessage.GNSSReport) -> String {
        var line = report.current ? "fix" : "NO FIX"
        if let mode = report.mode { line += " \(mode)" }
        if let latitude = report.latitude, let longitude = report.longitude {
            line += String(format: " %.6f,%.6f", latitude, longitude)
        }
        if let age = report.ageSeconds { line += String(format: " age %.1f s", age) }
        if let satellites = report.satellites { line += " sats \(satellites)" }
        if let hdop = report.hdop { line += " hdop \(hdop)" }
        line += " · time from \(report.timeSource) · \(report.chunksDecoded) chunks decoded"
        return line
    }
}
