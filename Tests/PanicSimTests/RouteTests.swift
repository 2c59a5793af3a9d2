import Foundation
import PanicSim
import Testing

@Suite("Routes and synthesized NMEA")
struct RouteTests {
    static let routes = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../sim/routes").standardized

    static func load(_ name: String) throws -> Route {
        try Route.load(path: routes.appendingPathComponent(name).path)
    }

    @Test("the Jaipur 3A route loads with its 21 stops and about 14 km")
    func jaipurRoute() throws {
        let route = try Self.load("jaipur-jctsl-3a.csv")
        #expect(route.stops.count == 21)
        #expect(route.stops.first?.name == "CHOTI CHOPAR")
        #expect(route.stops.last?.name == "SANGANER")
        #expect(abs(route.length - 13_920) < 100, "length \(route.length)")
    }

    @Test("the Indore route follows its road shape between stops")
    func indoreRoute() throws {
        let route = try Self.load("indore-aictsl-ibus-5438.csv")
        #expect(route.stops.count == 21)
        #expect(route.points.count > 150)
        #expect(abs(route.length - 11_180) < 200, "length \(route.length)")
    }

    @Test("a bus dwells at its first stop, then drives at cruise speed toward the next")
    func driving() throws {
        let drive = RouteDrive(route: try Self.load("jaipur-jctsl-3a.csv"), dwell: .seconds(20))
        let start = drive.state(at: .seconds(5))
        #expect(start.stop == "CHOTI CHOPAR")
        #expect(start.speed == 0)
        let moving = drive.state(at: .seconds(60))
        #expect(moving.stop == nil)
        #expect(moving.speed > 6)
        // Southbound from Choti Chopar toward Ajmeri Gate: the course points roughly south.
        #expect((150...210).contains(moving.course), "course \(moving.course)")
        #expect(moving.latitude < start.latitude)
        // After one way the bus turns back: it is near the far end, then heads north again.
        let back = drive.state(at: drive.oneWay + .seconds(60))
        #expect(back.latitude < 26.85)
        #expect(back.course < 30 || back.course > 330, "course \(back.course)")
    }

    @Test("a malformed route file names the line")
    func malformed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("route-\(UUID()).csv").path
        try "# route: x\nseq,kind,name,lat,lon\n1,stop,A,26.9,75.8\n2,stop,B,north,75.8\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try Route.load(path: path)
        } throws: { error in
            "\(error)".contains(":4: latitude/longitude 'north,75.8' is not valid")
        }
    }

    @Test("every synthesized sentence carries a correct checksum, with NavIC in GSA and GSV")
    func synthesizedSentences() throws {
        let drive = RouteDrive(route: try Self.load("jaipur-jctsl-3a.csv"))
        let sentences = NMEASynthesizer().epoch(
            time: Date(timeIntervalSince1970: 1_795_000_000.25), state: drive.state(at: .seconds(90)))
        for sentence in sentences {
            #expect(sentence.hasSuffix("\r\n"))
            let body = sentence.dropFirst().prefix { $0 != "*" }
            let checksum = sentence.split(separator: "*")[1].prefix(2)
            #expect(String(format: "%02X", body.utf8.reduce(UInt8(0)) { $0 ^ $1 }) == checksum, "\(sentence)")
        }
        #expect(sentences.contains { $0.hasPrefix("$GIGSV,") })
        #expect(sentences.contains { $0.hasPrefix("$GNGSA,A,3,") && $0.contains(",6*") })
        let rmc = try #require(sentences.first { $0.hasPrefix("$GNRMC") })
        #expect(rmc.contains(",A,26"))
        #expect(rmc.contains(",N,075"))
    }

    @Test("in a tunnel the receiver reports no fix")
    func tunnel() {
        let sentences = NMEASynthesizer().epoch(time: Date(timeIntervalSince1970: 0), state: nil)
        #expect(sentences[0].hasPrefix("$GNRMC,000000.00,V,"))
        #expect(sentences[1].contains(",0,00,"))
    }
}
