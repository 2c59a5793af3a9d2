import NMEA
import PanicCore
import PanicHardware
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// gpsd's socket as a GNSS source: connects over TCP, asks `?WATCH={"enable":true,"json":true}`, and decodes
/// the JSON reports (NMEA's `GPSDReportDecoder`) into fixes. For boards where gpsd already owns the port.
public struct GPSDSource: GNSSFixSource {
    /// The command that turns on JSON reports.
    public static let watchCommand = #"?WATCH={"enable":true,"json":true}"# + "\n"

    public let host: String
    public let port: UInt16
    public let clock: any MonotonicClock

    public init(host: String = "localhost", port: UInt16 = 2947, clock: any MonotonicClock = SystemMonotonicClock()) {
        self.host = host
        self.port = port
        self.clock = clock
    }

    /// Parses `HOST:PORT` (or `HOST`, port 2947; `[v6]:PORT` for IPv6 literals).
    public init?(address: String, clock: any MonotonicClock = SystemMonotonicClock()) {
        var host = address
        var port: UInt16 = 2947
        if let colon = address.lastIndex(of: ":"), !address.hasSuffix("]") {
            guard let parsed = UInt16(address[address.index(after: colon)...]) else { return nil }
            port = parsed
            host = String(address[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port, clock: clock)
    }

    /// Connects and sends the WATCH command; the caller owns the returned socket.
    /// The corresponding C functions are `getaddrinfo`, `socket`, `connect` and `write`.
    public func connect() throws(SerialIOError) -> CInt {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            // getaddrinfo reports its own EAI_* codes, not errno: name the failure in the path text instead.
            let reason = String(cString: gai_strerror(status))
            throw SerialIOError(call: "getaddrinfo", errno: .noSuchFileOrDirectory, path: "\(host):\(port) (\(reason))")
        }
        defer { freeaddrinfo(first) }
        var lastError = SerialIOError(call: "connect", errno: .connectionRefused, path: "\(host):\(port)")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard descriptor >= 0 else {
                lastError = SerialIOError.last("socket", path: "\(host):\(port)")
                continue
            }
            if Glibc.connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                lastError = SerialIOError.last("connect", path: "\(host):\(port)")
                _ = close(descriptor)
                continue
            }
            let command = Array(Self.watchCommand.utf8)
            let written = command.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == command.count else {
                let error = SerialIOError.last("write", path: "\(host):\(port)")
                _ = close(descriptor)
                throw error
            }
            return descriptor
        }
        throw lastError
    }

    /// Streams gpsd's report bytes until it closes the connection or the consumer stops.
    func chunks() throws(SerialIOError) -> AsyncThrowingStream<GNSSChunk, any Error> {
        let descriptor = try connect()
        return SerialReader.chunks(from: descriptor, clock: clock) { _ = close(descriptor) }
    }

    public func run(_ deliver: @Sendable ([GNSSFix]) async throws -> Void) async throws {
        var decoder = GPSDReportDecoder()
        for try await chunk in try chunks() {
            var fixes: [GNSSFix] = []
            decoder.feed(chunk.bytes, at: chunk.receivedAt) { fixes.append($0) }
            try await deliver(fixes)
        }
    }
}
