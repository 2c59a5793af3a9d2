import Foundation
import NMEA
import PanicCore
import PanicHardware
import PanicLinux
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A one-connection fake gpsd on 127.0.0.1: records what the client sends, answers with canned reports.
final class FakeGPSD: Sendable {
    let port: UInt16
    let received = Mutex<String>("")
    private let listener: CInt

    init(replies: [String]) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0 && listen(descriptor, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in
            let connection = accept(self.listener, nil, nil)
            guard connection >= 0 else { return }
            // Like gpsd: VERSION on connect, then reports once the WATCH command has arrived.
            send(connection, #"{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}"# + "\r\n")
            var buffer = [UInt8](repeating: 0, count: 256)
            var text = ""
            while !text.contains("\n") {
                let count = read(connection, &buffer, buffer.count)
                if count <= 0 { break }
                text += String(decoding: buffer[0..<count], as: UTF8.self)
            }
            received.withLock { $0 = text }
            for reply in replies { send(connection, reply) }
            _ = close(connection)
        }
        thread.start()
    }

    private func send(_ connection: CInt, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }

    deinit { _ = close(listener) }
}

@Suite("gpsd client")
struct GNSSGPSDTests {
    @Test("the client sends ?WATCH with JSON on, and TPV reports become fixes, split across reads or not")
    func watchAndDecode() async throws {
        let sky = #"{"class":"SKY","device":"/dev/ttyS0","hdop":1.01,"pdop":1.71,"vdop":1.38,"nSat":20,"uSat":12}"#
        let tpv =
            #"{"class":"TPV","device":"/dev/ttyS0","mode":3,"time":"2017-01-10T00:09:41.000Z","lat":44.068897833,"#
            + #""lon":-121.314271333,"altHAE":1123.4000,"altMSL":1144.8000,"alt":1144.8000,"speed":0.015,"#
            + #""track":12.5}"#
        let noFix = #"{"class":"TPV","device":"/dev/ttyS0","mode":1,"time":"2017-01-10T00:09:42.000Z"}"#
        let devices = #"{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyS0"}]}"#
        let gpsd = try FakeGPSD(replies: [
            devices + "\r\n" + sky + "\r\n" + String(tpv.prefix(40)), String(tpv.dropFirst(40)) + "\r\n",
            "not json\r\n", noFix + "\r\n",
        ])
        let source = GPSDSource(host: "127.0.0.1", port: gpsd.port)
        var decoder = GPSDReportDecoder()
        var fixes: [GNSSFix] = []
        for try await chunk in try source.chunks() {
            decoder.feed(chunk.bytes, at: chunk.receivedAt) { fixes.append($0) }
        }
        #expect(gpsd.received.withLock { $0 } == #"?WATCH={"enable":true,"json":true}"# + "\n")
        try #require(fixes.count == 2)
        #expect(fixes[0].mode == .threeD)
        #expect(fixes[0].latitude == 44.068897833)
        #expect(fixes[0].longitude == -121.314271333)
        #expect(fixes[0].altitudeMSL == 1144.8)
        #expect(abs(fixes[0].geoidSeparation! - (1123.4 - 1144.8)) < 1e-9)
        #expect(fixes[0].date == UTCDate(year: 2017, month: 1, day: 10))
        #expect(fixes[0].time == UTCTime(hour: 0, minute: 9, second: 41))
        #expect(fixes[0].hdop == 1.01 && fixes[0].satellitesUsed == 12)
        #expect(fixes[1].mode == .noFix && fixes[1].latitude == nil)
        #expect(decoder.malformedLines == 1)
    }

    @Test("nobody listening is reported by connect() with ECONNREFUSED")
    func refused() throws {
        // Port 1 (tcpmux) has no listener on a test machine.
        let unused = GPSDSource(host: "127.0.0.1", port: 1)
        #expect {
            _ = try unused.connect()
        } throws: { error in
            guard let error = error as? SerialIOError else { return false }
            return error.call == "connect" && error.errno == .connectionRefused
        }
    }

    @Test("HOST:PORT addresses parse, with the default port and IPv6 literals")
    func addresses() {
        #expect(GPSDSource(address: "localhost")?.port == 2947)
        #expect(GPSDSource(address: "10.0.0.5:3000")?.host == "10.0.0.5")
        #expect(GPSDSource(address: "10.0.0.5:3000")?.port == 3000)
        #expect(GPSDSource(address: "[::1]:2948")?.host == "::1")
        #expect(GPSDSource(address: "host:notaport") == nil)
    }
}
