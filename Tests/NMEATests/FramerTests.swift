import NMEA
import Testing

@Suite("NMEA framer")
struct FramerTests {
    let gga = "GPGGA,223251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,"

    @Test("a sentence split across any chunking comes out whole and once")
    func chunking() {
        let text = sentence(gga) + sentence("GPZDA,223251.00,21,04,2016,-00,00")
        let whole = frame(text)
        #expect(whole.sentences == [gga, "GPZDA,223251.00,21,04,2016,-00,00"])
        for size in [1, 2, 3, 7, 64] {
            #expect(frame(text, chunkSize: size).sentences == whole.sentences)
        }
    }

    @Test("CR, LF, CRLF and CRCRLF all end a line, and no empty sentences appear")
    func lineEnds() {
        let body = "GPZDA,223251.00,21,04,2016,-00,00"
        let framed = sentence(body).dropLast(1)  // "\r\n" is one Character
        for end in ["\r", "\n", "\r\n", "\r\r\n"] {
            let result = frame(String(framed) + end + String(framed) + end)
            #expect(result.sentences == [body, body], "line end \(Array(end.utf8))")
            #expect(result.rejected.isEmpty)
        }
    }

    @Test("binary bytes between sentences are skipped, counted and do not disturb framing")
    func binaryBetween() {
        let ubx: [UInt8] = [0xB5, 0x62, 0x01, 0x07, 0x5C, 0x00, 0x0D, 0x0A, 0xFF, 0x00]
        let bytes = Array(sentence(gga).utf8) + ubx + Array(sentence(gga).utf8)
        let result = decode(bytes)
        #expect(result.statistics.accepted == 2)
        #expect(result.statistics.rejected == 0)
        #expect(result.statistics.skippedBytes == ubx.count - 2)
    }

    @Test("a binary byte inside a sentence rejects it as invalid-character, and the next one survives")
    func binaryInside() {
        var bytes = Array(sentence(gga).utf8)
        bytes.insert(0xB5, at: 20)
        let result = frame(bytes + Array(sentence(gga).utf8))
        #expect(result.rejected == [.invalidCharacter])
        #expect(result.sentences == [gga])
    }

    @Test("a doubled $$ starts one sentence")
    func doubledDollar() {
        let result = frame("$" + sentence(gga))
        #expect(result.sentences == [gga])
        #expect(result.rejected.isEmpty)
    }

    @Test("two complete sentences run together on one line are both kept")
    func runTogether() {
        let first = sentence(gga).dropLast(1)
        let result = frame(String(first) + sentence("GPZDA,223251.00,21,04,2016,-00,00"))
        #expect(result.sentences == [gga, "GPZDA,223251.00,21,04,2016,-00,00"])
    }

    @Test("a sentence cut short by the next one is rejected as interrupted")
    func interrupted() {
        let result = frame("$GPGGA,2232" + sentence(gga))
        #expect(result.rejected == [.interrupted])
        #expect(result.sentences == [gga])
    }

    @Test("an over-long line is dropped up to the line end and counted; the buffer stays bounded")
    func tooLong() {
        let long = "$GPTXT," + String(repeating: "A", count: 1000) + "*00\r\n"
        for size in [nil, 5] as [Int?] {
            let result = frame(long + sentence(gga), options: .init(maxLength: 100), chunkSize: size)
            #expect(result.rejected == [.tooLong])
            #expect(result.sentences == [gga])
        }
    }

    @Test("a wrong checksum is rejected as bad-checksum; hex digits in either case are accepted")
    func checksums() {
        let good = sentence("GPTXT,01,01,02,zz")
        let lower = good.lowercased().replacingOccurrences(of: "$gptxt", with: "$GPTXT")
            .replacingOccurrences(of: ",zz", with: ",zz")
        #expect(frame(lower).sentences == ["GPTXT,01,01,02,zz"])
        let bad = good.replacingOccurrences(of: "*", with: ",x*")
        #expect(frame(bad).rejected == [.badChecksum])
    }

    @Test("a checksum that is not two hex digits is rejected as malformed-checksum")
    func malformed() {
        #expect(frame("$GPTXT,01*4\r\n").rejected == [.malformedChecksum])
        #expect(frame("$GPTXT,01*4G\r\n").rejected == [.malformedChecksum])
        #expect(frame("$GPTXT,01*4A5\r\n").rejected == [.malformedChecksum])
    }

    @Test("no checksum is rejected by default and accepted when the option allows it")
    func missingChecksum() {
        #expect(frame("$GPTXT,01,01,02,x\r\n").rejected == [.missingChecksum])
        let lenient = frame("$GPTXT,01,01,02,x\r\n", options: .init(requireChecksum: false))
        #expect(lenient.sentences == ["GPTXT,01,01,02,x"])
    }

    @Test("a bare start character is rejected as empty")
    func empty() {
        #expect(frame("$\r\n").rejected == [.empty])
        #expect(frame("$*00\r\n").rejected == [.empty])
    }

    @Test("AIS-style ! sentences are framed too")
    func bang() {
        #expect(
            frame(sentence("AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0").replacingOccurrences(of: "$", with: "!"))
                .sentences.count == 1)
    }

    @Test("rejections carry the line they were on")
    func lines() {
        let result = decode(sentence(gga) + "$GPGGA,1*00\r\n" + sentence(gga))
        #expect(result.rejections.map(\.line) == [2])
    }
}
