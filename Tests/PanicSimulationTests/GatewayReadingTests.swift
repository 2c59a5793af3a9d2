import PanicCore
import Testing

@testable import PanicSimulation

/// The simulator's SMS gateway reads a §3.1.5 text by its fields against the alert record it names.
@Suite struct GatewayReadingTests {
    static let radio = Telemetry.Radio(signal: 17, mcc: 404, mnc: 45, serving: .init(lac: 0x1A2B, cellID: 0xC0FFE))

    static func record(_ telemetry: Telemetry?) -> Record {
        Record(
            device: "d", sequence: 9, previousHash: nil,
            draft: RecordDraft(
                id: "e", time: RecordTime(epochMilliseconds: 1_764_000_000_000), timeSource: .gnss,
                fix: RecordFix(latitude: 26.912434, longitude: 75.787271, speed: 36.4, ageMilliseconds: 4200),
                body: .emergency(input: "panic-1"), telemetry: telemetry))
    }

    @Test("the box's own text reads as its alert, with the modem's serving cell")
    func ownText() throws {
        let record = Self.record(Telemetry(radio: Self.radio))
        let text = SMSText.fields(for: record, imei: "490154203237518")
        #expect(try GatewayReading.read(text, imei: "490154203237518", records: [record]).get() == true)
    }

    @Test("a wrong cell, IMEI, position, kind or field count is what a gateway would get wrong")
    func wrongFields() {
        let record = Self.record(Telemetry(radio: Self.radio))
        let good = "490154203237518,26.912434,N,75.787271,E,A,36.4,C0FFE,1A2B,24112025160000,EMR"
        let bad = [
            good.replacingOccurrences(of: "C0FFE,1A2B", with: "x,x"),
            good.replacingOccurrences(of: "490154203237518", with: "490154203237519"),
            good.replacingOccurrences(of: "26.912434,N", with: "26.912434,S"),
            good.replacingOccurrences(of: ",EMR", with: ",HLP"),
            good.replacingOccurrences(of: ",36.4", with: ""),
        ]
        #expect((try? GatewayReading.read(good, imei: "490154203237518", records: [record]).get()) == true)
        for text in bad {
            #expect(throws: GatewayProblem.self, "\(text)") {
                try GatewayReading.read(text, imei: "490154203237518", records: [record]).get()
            }
        }
    }
}
