import Foundation
import NMEA
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("gpsd client", .timeLimit(.minutes(5)))
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
        let gpsd = try FakeGPSDServer(replies: [
            devices + "\r\n" + sky + "\r\n" + String(tpv.prefix(40)), String(tpv.dropFirst(40)) + "\r\n",
            "not json\r\n", noFix + "\r\n",
        ])
        let source = GPSDSource(host: "127.0.0.1", port: gpsd.port)
        let collected = Mutex<[GNSSFix]>([])
        // The fake closes the connection after its replies: the source ends.
        try await source.run { fixes in collected.withLock { $0 += fixes } }
        let fixes = collected.withLock { $0 }
        #expect(gpsd.received == #"?WATCH={"enable":true,"json":true}"# + "\n")
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
