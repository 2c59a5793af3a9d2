import PanicCore
import Testing

/// The modem's radio answers read from samples of real modems (SIMCom SIM800/SIM7600, Quectel EC2x): the formats of
/// 3GPP TS 27.007 and SIMCom's `+CENG`, and what each says when it does not know.
@Suite("Modem radio answers")
struct ModemAnswersTests {
    func lines(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map(String.init)
    }

    @Test("+CSQ: the 0-31 signal, 99 unknown, errors and garbage named")
    func signal() throws {
        #expect(try ModemAnswers.signal(lines("\r\n+CSQ: 17,99\r\n\r\nOK\r\n")) == 17)
        #expect(try ModemAnswers.signal(lines("AT+CSQ\r\r\n+CSQ: 31,0\r\n\r\nOK")) == 31)  // echo on (SIM800 default)
        #expect(try ModemAnswers.signal(lines("+CSQ: 99,99\r\nOK")) == nil)
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.signal(lines("ERROR")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.signal(lines("+CME ERROR: 10\r\n")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.signal(lines("+CSQ: 45,99\r\nOK")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.signal(lines("+CSQ: abc\r\nOK")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.signal(lines("OK")) }
        do throws(ModemAnswers.Failure) {
            _ = try ModemAnswers.signal(lines("+CME ERROR: SIM not inserted"))
            Issue.record("no error")
        } catch {
            #expect(error.reason.contains("AT+CSQ") && error.reason.contains("SIM not inserted"))
        }
    }

    @Test("+COPS?: long name, numeric MCC/MNC (2- and 3-digit MNC), not registered")
    func operatorAnswers() throws {
        #expect(try ModemAnswers.operator(lines("+COPS: 0,0,\"IND airtel\"\r\nOK")) == .name("IND airtel"))
        // SIM7600 / EC2x add the access technology.
        #expect(try ModemAnswers.operator(lines("+COPS: 0,0,\"Jio 4G\",7\r\nOK")) == .name("Jio 4G"))
        #expect(try ModemAnswers.operator(lines("+COPS: 0,2,\"40445\",7\r\nOK")) == .numeric(mcc: 404, mnc: 45))
        #expect(try ModemAnswers.operator(lines("+COPS: 0,2,\"405857\",7\r\nOK")) == .numeric(mcc: 405, mnc: 857))
        #expect(try ModemAnswers.operator(lines("+COPS: 0\r\nOK")) == nil)
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.operator(lines("+COPS: 0,2,\"4x4\"\r\nOK")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.operator(lines("ERROR")) }
    }

    @Test("+CREG?: registered home or roaming gives LAC and CI from hex; searching, denied or no location give nil")
    func registration() throws {
        #expect(
            try ModemAnswers.servingCell(lines("+CREG: 2,1,\"1A2B\",\"0C0FFE\"\r\nOK"))
                == Telemetry.Cell(lac: 0x1A2B, cellID: 0x0C0FFE))
        // Roaming, with the access technology (SIM7600).
        #expect(
            try ModemAnswers.servingCell(lines("+CREG: 2,5,\"00A1\",\"1B2C3D4\",7\r\nOK"))
                == Telemetry.Cell(lac: 0xA1, cellID: 0x1B2C3D4))
        // An unsolicited code first, then the answer: the answer counts.
        #expect(
            try ModemAnswers.servingCell(lines("+CREG: 1,\"0001\",\"0002\"\r\n+CREG: 2,1,\"0003\",\"0004\"\r\nOK"))
                == Telemetry.Cell(lac: 3, cellID: 4))
        #expect(try ModemAnswers.servingCell(lines("+CREG: 2,2\r\nOK")) == nil)  // searching
        #expect(try ModemAnswers.servingCell(lines("+CREG: 2,3\r\nOK")) == nil)  // denied
        #expect(try ModemAnswers.servingCell(lines("+CREG: 0,1\r\nOK")) == nil)  // no location asked for
        #expect(throws: ModemAnswers.Failure.self) {
            try ModemAnswers.servingCell(lines("+CREG: 2,1,\"ZZZZ\",\"0C0FFE\"\r\nOK"))
        }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.servingCell(lines("ERROR")) }
    }

    @Test("SIM800 +CENG?: neighbours with hex cell id and LAC, RxLev on the CSQ scale; empty slots skipped")
    func neighbours() throws {
        let answer = """
            +CENG: 1,1
            +CENG: 0,"0024,41,00,404,45,34,3b5a,10,05,0095,255"
            +CENG: 1,"0018,28,35,3b58,404,45,0095"
            +CENG: 2,"0021,20,12,3b5c,404,45,0096"
            +CENG: 3,"0000,00,00,ffff,000,00,0000"
            OK
            """
        let cells = try ModemAnswers.neighbours(lines(answer))
        #expect(
            cells == [
                .init(lac: 0x95, cellID: 0x3B58, signal: 15), .init(lac: 0x96, cellID: 0x3B5C, signal: 11),
            ])
        #expect(try ModemAnswers.neighbours(lines("+CENG: 1,1\r\nOK")) == [])
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.neighbours(lines("ERROR")) }
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.neighbours(lines("+CENG: 1,\"zz,qq\"\r\nOK")) }
    }

    @Test("a whole reading: a refused step leaves its values unknown and names the problem; the rest is read")
    func reading() {
        var reading = RadioReading()
        reading.answered(.signal, lines: lines("+CSQ: 99,99\r\nOK"))
        reading.answered(.nameFormat, lines: ["OK"])
        reading.answered(.name, lines: lines("+COPS: 0,0,\"IND airtel\"\r\nOK"))
        reading.answered(.numericFormat, lines: ["OK"])
        reading.answered(.numeric, lines: lines("+COPS: 0,2,\"40445\"\r\nOK"))
        reading.answered(.registrationMode, lines: ["OK"])
        reading.answered(.registration, lines: lines("+CREG: 2,1,\"1A2B\",\"0C0FFE\"\r\nOK"))
        reading.answered(.engineeringMode, lines: ["ERROR"])  // a Quectel: no AT+CENG
        #expect(RadioReading.dependents(of: .engineeringMode) == [.neighbours])
        #expect(reading.understood)
        #expect(
            reading.radio
                == Telemetry.Radio(
                    signal: nil, operatorName: "IND airtel", mcc: 404, mnc: 45,
                    serving: .init(lac: 0x1A2B, cellID: 0x0C0FFE)))
        #expect(reading.problems == ["AT+CENG=1,1: the modem answered \"ERROR\""])

        var garbage = RadioReading()
        for step in RadioReading.Step.allCases { garbage.answered(step, lines: ["\u{1}\u{2}garbage", "ERROR"]) }
        #expect(!garbage.understood)
        #expect(garbage.radio == Telemetry.Radio())
        #expect(garbage.problems.count == RadioReading.Step.allCases.count)
    }
}
