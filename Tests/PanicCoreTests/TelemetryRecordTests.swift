import Foundation
import Testing

@testable import PanicCore

@Suite struct TelemetryRecordTests {
    func record(_ telemetry: Telemetry?) -> Record {
        Record(
            device: "pb-0123456789abcdef", sequence: 7, previousHash: nil,
            draft: RecordDraft(
                id: "6f1c2d3e-0000-4000-8000-000000000001", time: RecordTime(epochMilliseconds: 1_700_000_000_000),
                timeSource: .gnss, fix: nil, body: .position, telemetry: telemetry))
    }

    func json(_ record: Record) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    @Test func readingsSurviveTheRoundTrip() throws {
        let telemetry = Telemetry(
            radio: .init(
                signal: 17, operatorName: "IND airtel", mcc: 404, mnc: 10,
                serving: .init(lac: 0x1A2B, cellID: 0xC0FFE, signal: 17),
                neighbours: [.init(lac: 0x1A2B, cellID: 0xBEEF, signal: 9)]),
            supply: .init(mainVolts: 12.6, backupVolts: 4.05, batteryPercent: 88), ignition: true)
        let text = try json(record(telemetry))
        #expect(text.contains(#""operator":"IND airtel""#))
        #expect(text.contains(#""cid":790526"#))
        let decoded = try JSONDecoder().decode(Record.self, from: Data(text.utf8))
        #expect(decoded.telemetry == telemetry)
    }

    /// A record with nothing measured is written exactly as before the field existed (no `telemetry` key), so the
    /// payloads (and the hashes chained over them) of boxes without a modem do not change.
    @Test func nothingKnownLeavesNoTrace() throws {
        let none = try json(record(nil))
        let empty = try json(record(Telemetry()))
        #expect(!none.contains("telemetry"))
        #expect(none == empty)
        let decoded = try JSONDecoder().decode(Record.self, from: Data(none.utf8))
        #expect(decoded.telemetry == nil)
    }

    /// Unknown readings are absent, not zero: a signal the modem could not measure is not a signal of 0.
    @Test func unknownIsAbsentNotZero() throws {
        let text = try json(record(Telemetry(radio: .init(operatorName: "BSNL"), ignition: false)))
        #expect(!text.contains("signal"))
        #expect(!text.contains("mainVolts"))
        #expect(text.contains(#""ignition":false"#))
        let decoded = try JSONDecoder().decode(
            Telemetry.Radio.self, from: Data(#"{"operator":"BSNL"}"#.utf8))
        #expect(decoded.neighbours.isEmpty && decoded.signal == nil)
    }
}
