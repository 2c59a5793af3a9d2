import NMEA
import Testing

@Suite("NMEA sentence parser")
struct ParserTests {
    func decoded(_ body: String) throws -> NMEASentence {
        guard case .sentence(let sentence) = parse(body) else {
            Issue.record("\(body) was rejected: \(parse(body))")
            throw CancellationError()
        }
        return sentence
    }

    func rejection(_ body: String) -> (NMEARejectionReason, Int?)? {
        if case .rejected(let reason, let field) = parse(body) { return (reason, field) }
        return nil
    }

    @Test("GGA gives time, position, quality, satellites, HDOP and altitudes")
    func gga() throws {
        let sentence = try decoded("GNGGA,000941.00,4404.13387,N,12118.85628,W,1,12,1.01,1144.8,M,-21.4,M,,")
        guard case .gga(let gga) = sentence.body else { throw CancellationError() }
        #expect(gga.time == UTCTime(hour: 0, minute: 9, second: 41))
        #expect(abs(gga.latitude! - 44.068897833) < 1e-9)
        #expect(abs(gga.longitude! + 121.314271333) < 1e-9)
        #expect(gga.quality == .autonomous)
        #expect(gga.satellitesUsed == 12)
        #expect(gga.hdop == 1.01)
        #expect(gga.altitudeMSL == 1144.8)
        #expect(gga.geoidSeparation == -21.4)
    }

    @Test("RMC gives status, speed, course, date, mode and navigational status")
    func rmc() throws {
        let sentence = try decoded("GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A,V")
        guard case .rmc(let rmc) = sentence.body else { throw CancellationError() }
        #expect(rmc.valid)
        #expect(rmc.speedKnots == 0.068)
        #expect(rmc.course == 338.51)
        #expect(rmc.date == UTCDate(year: 2016, month: 4, day: 21))
        #expect(rmc.mode == .autonomous)
        #expect(rmc.navigationalStatus == UInt8(ascii: "V"))
    }

    @Test("GSA counts used satellites and reads the NMEA 4.10 system id")
    func gsa() throws {
        guard case .gsa(let gsa) = try decoded("GNGSA,A,3,1001,1002,1003,,,,,,,,,,1.60,0.90,1.30,6").body else {
            throw CancellationError()
        }
        #expect(gsa.satellitesUsed == 3)
        #expect(gsa.fixType == 3)
        #expect(gsa.systemID == 6)
        #expect(gsa.pdop == 1.60 && gsa.hdop == 0.90 && gsa.vdop == 1.30)
    }

    @Test("GSV reads pages, satellites in view and the signal id")
    func gsv() throws {
        let sentence = try decoded("GPGSV,3,1,12,28,70,351,18,30,61,093,28,17,52,181,,13,50,290,,1")
        guard case .gsv(let gsv) = sentence.body else { throw CancellationError() }
        #expect(gsv.messageCount == 3 && gsv.messageNumber == 1 && gsv.satellitesInView == 12)
        #expect(gsv.satellitesInMessage == 4)
        #expect(gsv.signalID == 1)
    }

    @Test("VTG, GLL, GNS, ZDA and TXT decode")
    func others() throws {
        guard case .vtg(let vtg) = try decoded("GPVTG,338.51,T,0.00,M,0.068,N,0.126,K,A").body else {
            throw CancellationError()
        }
        #expect(vtg.courseTrue == 338.51 && vtg.speedKmh == 0.126 && vtg.mode == .autonomous)
        guard case .gll(let gll) = try decoded("GPGLL,3757.92653,N,12231.94543,W,223251.00,A,A").body else {
            throw CancellationError()
        }
        #expect(gll.valid && gll.time == UTCTime(hour: 22, minute: 32, second: 51))
        guard
            case .gns(let gns) = try decoded(
                "GNGNS,122310.2,3722.425671,N,12258.856215,W,AAN,14,0.9,1005.543,6.5,,,V"
            ).body
        else { throw CancellationError() }
        #expect(gns.quality == .autonomous && gns.satellitesUsed == 14 && gns.altitudeMSL == 1005.543)
        #expect(gns.time?.nanosecond == 200_000_000)
        guard case .zda(let zda) = try decoded("GPZDA,223251.00,21,04,2016,-00,00").body else {
            throw CancellationError()
        }
        #expect(zda.date == UTCDate(year: 2016, month: 4, day: 21))
        let body = "GPTXT,01,01,02,u-blox ag - www.u-blox.com, ok"
        guard case .txt(let txt) = try decoded(body).body else { throw CancellationError() }
        let text = Array(body.utf8).withUnsafeBytes { NMEAParser.text(of: txt, in: $0) }
        #expect(text == "u-blox ag - www.u-blox.com, ok")
    }

    @Test("every talker is accepted and mapped to its constellation, NavIC's GI included")
    func talkers() throws {
        let expected: [(String, Constellation?)] = [
            ("GP", .gps), ("GL", .glonass), ("GA", .galileo), ("GB", .beidou), ("BD", .beidou), ("GQ", .qzss),
            ("QZ", .qzss), ("GI", .navic), ("GN", nil), ("PQ", .qzss), ("XY", nil),
        ]
        for (talker, constellation) in expected {
            let sentence = try decoded("\(talker)GSV,1,1,01,01,58,110,41")
            #expect(sentence.talker.description == talker)
            #expect(sentence.talker.constellation == constellation, "\(talker)")
        }
    }

    @Test("proprietary sentences are recognised and ignored with their own reason")
    func proprietary() {
        #expect(rejection("PMTK001,604,3")?.0 == .proprietary)
        #expect(rejection("PSRFEPE,100542.000,A,0.7,6.82,10.69,0.0,180.0")?.0 == .proprietary)
        #expect(rejection("PQTMVERNO,LC29HAANR01A03S,2022/11/29,17:05:30")?.0 == .proprietary)
        #expect(rejection("PGRMZ,93,f,3")?.0 == .proprietary)
    }

    @Test("an unknown standard sentence type is counted as unsupported")
    func unsupported() {
        #expect(rejection("GPGST,223251.00,1.5,,,,1.2,1.1,2.5")?.0 == .unsupported)
    }

    @Test("a bad address is rejected naming field 0")
    func badAddress() {
        #expect(rejection("GPgga,1")?.0 == .badAddress)
        #expect(rejection("GPGGAX,1")?.0 == .badAddress)
        #expect(rejection("G")?.0 == .badAddress)
        #expect(rejection(",1,2")?.0 == .badAddress)
    }

    @Test("too few fields for the type is rejected with the count found")
    func tooFewFields() {
        let result = rejection("GPGGA,223251.00,3757.92653,N")
        #expect(result?.0 == .tooFewFields)
        #expect(result?.1 == 4)
    }

    @Test("a malformed field is rejected naming the field")
    func badFields() {
        let cases: [(String, Int)] = [
            ("GPGGA,22x251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,", 1),
            ("GPGGA,223251.00,3757.92653,Q,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,", 3),
            ("GPGGA,223251.00,3757.92653,N,12231.94543,W,9,05,1.20,9.2,M,-25.1,M,,", 6),
            ("GPGGA,223251.00,3757.92653,N,12231.94543,W,1,05,1..2,9.2,M,-25.1,M,,", 8),
            ("GPGGA,253251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,", 1),
            ("GPGGA,223251.00,9757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,", 2),
            ("GPRMC,223251.00,X,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A", 2),
            ("GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,321316,0.00,E,A", 9),
            // 31 February and 29 February of a common year do not exist: not a fix time.
            ("GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,310226,0.00,E,A", 9),
            ("GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,290227,0.00,E,A", 9),
            ("GPZDA,223251.00,31,04,2026,-00,00", 2),
            ("GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,Z", 12),
            ("GPGSA,A,4,07,30,19,11,15,,,,,,,,2.88,1.20,2.62", 2),
            ("GPGSV,3,4,12,28,70,351,18", 2),
            ("GPZDA,223251.00,21,13,2016,-00,00", 3),
        ]
        for (body, field) in cases {
            let result = rejection(body)
            #expect(result?.0 == .badField, "\(body)")
            #expect(result?.1 == field, "\(body)")
        }
    }
}

@Suite("Decimal fields")
struct DecimalTests {
    func value(_ text: String) -> Double? {
        guard case .sentence(let sentence) = parse("GPVTG,\(text),T,,M,,N,,K,A"), case .vtg(let vtg) = sentence.body
        else { return nil }
        return vtg.courseTrue
    }

    @Test("decimals parse exactly as strtod would, and long fractions stay in range")
    func decimals() {
        #expect(value("338.51") == 338.51)
        #expect(value("-0.5") == -0.5)
        #expect(value("007") == 7)
        #expect(value("0." + String(repeating: "0", count: 40) + "1") == 0)
        #expect(value("1.23456789012345678901234567890") == 1.2345678901234567)
    }

    @Test("malformed decimals are bad fields, never a crash")
    func malformed() {
        for text in ["-", ".", "1.2.3", "1e5", "+", "12345678901234567890123"] {
            guard case .rejected(let reason, let field) = parse("GPVTG,\(text),T,,M,,N,,K,A") else {
                Issue.record("\(text) accepted")
                continue
            }
            #expect(reason == .badField && field == 1, "\(text)")
        }
    }

    @Test("the first fuzz crash (a 40-digit fraction in VTG) decodes without trapping")
    func fuzzRegression() throws {
        let bytes = try fixture("fuzz-crash-long-fraction.bin")
        _ = decode(Array(bytes.dropFirst()))
    }
}
