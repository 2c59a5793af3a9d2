import Foundation
import NMEA
import Testing

/// The sentence path's shape and its eight-bytes-at-a-time scans (docs/gnss.md → Speed).
@Suite("NMEA hot path")
struct HotPathTests {
    @Test("a decoded sentence and a parse result are small values, moved without a memmove call")
    func smallValues() {
        // Stored packed (every optional in eight bytes or fewer): an RMC is 64 bytes, not 148, so the value moves
        // from decoder to result to tracker in registers; a copy above 128 bytes becomes a call to memmove.
        #expect(MemoryLayout<RMC>.size <= 64)
        #expect(MemoryLayout<GGA>.size <= 64)
        #expect(MemoryLayout<GNS>.size <= 64)
        #expect(MemoryLayout<NMEASentence>.size <= 80)
        #expect(MemoryLayout<NMEAParseResult>.size <= 80)
    }

    @Test("packed fields read back as the optionals they were given")
    func packedRoundTrip() throws {
        guard case .rmc(var rmc) = try #require(sentenceBody("GNRMC,235959.123456789,A,0000.00000,S,,,,,311299,,,"))
        else { throw CancellationError() }
        #expect(rmc.time == UTCTime(hour: 23, minute: 59, second: 59, nanosecond: 123_456_789))
        #expect(rmc.latitude == 0 && rmc.longitude == nil && rmc.speedKnots == nil && rmc.mode == nil)
        #expect(rmc.date == UTCDate(year: 1999, month: 12, day: 31))
        rmc.speedKnots = -0.0
        #expect(rmc.speedKnots == 0)
        rmc.course = 359.99
        #expect(rmc.course == 359.99)
        rmc.time = nil
        rmc.date = nil
        #expect(rmc.time == nil && rmc.date == nil)
        guard case .gsa(var gsa) = try #require(sentenceBody("GNGSA,A,3,,,,,,,,,,,,,,,,")) else {
            throw CancellationError()
        }
        #expect(gsa.fixType == 3 && gsa.systemID == nil && gsa.pdop == nil && gsa.firstSatellite == nil)
        gsa.systemID = 999_999_999
        #expect(gsa.systemID == 999_999_999)
    }

    @Test("every byte value at every position of an eight-byte word: kept, or dropped with its reason")
    func everyByteEveryLane() {
        let base = Array("GPTXT,01,01,02,ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for position in 6..<(6 + 16) {
            for value in 0...255 {
                let byte = UInt8(value)
                var body = base
                body[position] = byte
                let sum = body.reduce(UInt8(0), ^)
                let hex = Array(String(sum, radix: 16, uppercase: true).utf8)
                var line = [UInt8(ascii: "$")] + body + [UInt8(ascii: "*")]
                line += (sum < 16 ? [UInt8(ascii: "0")] : []) + hex + [0x0D, 0x0A]
                let framed = frame(line)
                let printable = (0x20...0x7E).contains(byte)
                if printable && byte != UInt8(ascii: "$") && byte != UInt8(ascii: "!") && byte != UInt8(ascii: "*") {
                    #expect(framed.sentences == [String(decoding: body, as: UTF8.self)], "byte \(value) at \(position)")
                    #expect(framed.rejected.isEmpty, "byte \(value) at \(position)")
                } else if !printable && byte != 0x0D && byte != 0x0A {
                    #expect(framed.sentences.isEmpty, "byte \(value) at \(position)")
                    #expect(framed.rejected == [.invalidCharacter], "byte \(value) at \(position)")
                }
            }
        }
    }

    @Test("the running checksum is the same whatever the chunking, across a sentence split anywhere")
    func checksumAcrossChunks() {
        let text = sentence("GNGGA,000941.00,4404.13387,N,12118.85628,W,1,12,1.01,1144.8,M,-21.4,M,,")
        let bad = text.replacingOccurrences(of: "4404.13387", with: "4404.13388")
        for size in 1...text.utf8.count {
            #expect(frame(text, chunkSize: size).sentences.count == 1, "chunks of \(size)")
            #expect(frame(bad, chunkSize: size).rejected == [.badChecksum], "chunks of \(size)")
        }
    }

    private func sentenceBody(_ body: String) -> NMEASentence.Body? {
        guard case .sentence(let sentence) = parse(body) else { return nil }
        return sentence.body
    }
}
