import Foundation
import PanicCore
import PanicUplink
import Testing

/// Tracking, health and OsmAnd frames carry the record's radio, supply and ignition readings, and Traccar's
/// decoders (`ITSFrameReader`, written from `ItsProtocolDecoder`) read them back; what is not known goes as the
/// protocol's unknown, never as a 0 that looks like a reading.
@Suite("AIS-140 telemetry fields")
struct AIS140TelemetryTests {
    static let identity = AIS140FrameTests.identity

    static let radio = Telemetry.Radio(
        signal: 17, operatorName: "IND airtel", mcc: 404, mnc: 45, serving: .init(lac: 0x1A2B, cellID: 0x0C0FFE),
        neighbours: [.init(lac: 0x95, cellID: 0x3B58, signal: 15), .init(lac: 0x96, cellID: 0x3B5C)])
    static let telemetry = Telemetry(
        radio: radio, supply: .init(mainVolts: 12.64, backupVolts: 4.07, batteryPercent: 81), ignition: true)

    static func record(_ body: RecordBody, telemetry: Telemetry?) -> Record {
        Record(
            device: "dev", sequence: 21, previousHash: nil,
            draft: RecordDraft(
                id: "id-21", time: RecordTime(epochMilliseconds: AIS140FrameTests.base), timeSource: .gnss,
                fix: AIS140FrameTests.fix, body: body, telemetry: telemetry))
    }

    func frame(_ record: Record) throws -> String {
        let frames = AIS140.frames(for: record, identity: Self.identity, live: true)
        try #require(frames.count == 1)
        return String(frames[0].dropLast(1))  // without the line end, as a receiver reads it
    }

    @Test("a tracking frame carries operator, ignition, voltages, signal, MCC/MNC, LAC/CID in hex and neighbours")
    func trackingCarriesReadings() throws {
        let text = try frame(Self.record(.position, telemetry: Self.telemetry))
        // Golden, its CRC computed independently (Python's zlib.crc32); also in docs/uplink.md.
        #expect(
            text
                == "$,NRM,ACME,0.9.0,NR,01,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,"
                + "36.4,87.50,11,431.2,0.00,0.90,IND airtel,1,1,12.6,4.1,0,C,17,404,45,1A2B,C0FFE,15,95,3B58,99,96,"
                + "3B5C,0,0,0,0,0,0,0000,00,000021,6e2e8e0b,*")
        #expect(text.contains(",IND airtel,1,1,12.6,4.1,0,C,17,404,45,1A2B,C0FFE,15,95,3B58,99,96,3B5C,0,0,0,0,0,0,"))
        let position = try #require(ITSFrameReader.read(text))
        #expect(position.operatorName == "IND airtel")
        #expect(position.ignition == true)
        #expect(position.power == 12.6 && position.battery == 4.1)
        #expect(
            position.cells == [
                .init(mcc: 404, mnc: 45, lac: 0x1A2B, cellID: 0x0C0FFE, signal: 17),
                .init(mcc: 404, mnc: 45, lac: 0x95, cellID: 0x3B58),
                .init(mcc: 404, mnc: 45, lac: 0x96, cellID: 0x3B5C),
            ])
        // The CRC still covers the frame.
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        let crc = fields[fields.count - 2]
        #expect(String(AIS140.crc32(text.dropLast(crc.count + 2).utf8), radix: 16) == String(crc.drop { $0 == "0" }))
    }

    @Test("unknown signal is 99, an unknown serving cell is x (Traccar skips the block), empty neighbours 0,0,0")
    func unknowns() throws {
        // Registered with signal unknown, no neighbours.
        var radio = Self.radio
        radio.signal = nil
        radio.neighbours = []
        let partial = try frame(Self.record(.position, telemetry: .init(radio: radio)))
        #expect(partial.contains(",99,404,45,1A2B,C0FFE,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,"))
        let read = try #require(ITSFrameReader.read(partial))
        #expect(read.cells == [.init(mcc: 404, mnc: 45, lac: 0x1A2B, cellID: 0x0C0FFE, signal: 99)])
        // Not registered: signal known, no cell. Nothing known: no operator, ignition 0, voltages 0.0.
        let searching = try frame(Self.record(.position, telemetry: .init(radio: .init(signal: 9))))
        #expect(searching.contains(",,0,1,0.0,0.0,0,C,9,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,"))
        #expect(try #require(ITSFrameReader.read(searching)).cells == nil)
        let nothing = try frame(Self.record(.position, telemetry: nil))
        #expect(nothing.contains(",,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,"))
        #expect(!nothing.contains(",0,x,"))
        // More than four neighbours: the first four; neighbours with a 0 LAC or CID are not sent as cells.
        radio.neighbours = (1...6).map { .init(lac: $0, cellID: 100 + $0, signal: 10) } + [.init(lac: 0, cellID: 5)]
        let many = try frame(Self.record(.position, telemetry: .init(radio: radio)))
        #expect(many.contains(",10,1,65,10,2,66,10,3,67,10,4,68,0000,00,"))
        #expect(try #require(ITSFrameReader.read(many)).cells?.count == 5)
    }

    @Test("an operator name cannot break the frame: separators and control characters are dropped, 20 characters")
    func hostileOperator() throws {
        let radio = Telemetry.Radio(operatorName: "Evil,Net*$\u{7}\r\nwith a very long name indeed")
        let text = try frame(Self.record(.position, telemetry: .init(radio: radio)))
        #expect(AIS140.operatorField(radio) == "EvilNetwith a very l")
        #expect(try #require(ITSFrameReader.read(text)).operatorName == "EvilNetwith a very l")
    }

    @Test("health: the battery percentage is real, or x when not known (never 0)")
    func health() throws {
        let measured = try frame(Self.record(.health(HealthReport(queueDepth: 0)), telemetry: Self.telemetry))
        #expect(measured == "$,HLM,ACME,0.9.0,490154203237518,81,0,0.0,00010,00060,0000,00,0.0,0.0,72955e42,*")
        let unknown = try frame(Self.record(.health(HealthReport(queueDepth: 0)), telemetry: nil))
        #expect(unknown.hasPrefix("$,HLM,ACME,0.9.0,490154203237518,x,0,"))
    }

    @Test("the reader reads Traccar's own sample cell blocks as Traccar does")
    func traccarSampleCells() throws {
        let sample =
            "$,CP,ATL,1.4D3_AIS140_1.0,EA,10,H,868728037717441,,1,31032019,140054,28.533699,N,77.269020,E,0.0,"
            + "188.00,14,76.0,1.3,0.0,Idea,0,1,12.7,3.9,1,O,22,404,11,69,979c,fc1,69,18,fbf,69,15,e36e,69,14,"
            + "ba2f,3ff,13,0111,00,249404,"
        let position = try #require(ITSFrameReader.read(sample))
        #expect(position.operatorName == "Idea" && position.power == 12.7 && position.battery == 3.9)
        #expect(position.cells?.first == .init(mcc: 404, mnc: 11, lac: 0x69, cellID: 0x979C, signal: 22))
        #expect(position.cells?.count == 5)
        let negative =
            "$,04,XYZ123,0.0.1,BR,06,L,861359034137271,MH12AB1234,0,00,00,0000,00,00,00,000.000000,N,000.000000,E,"
            + "000.0,000.00,00,000.0,00.00,00.00,IDEAIN,1,1,00.0,3.8,1,O,17,404,22,2797,11b7,11b9,2797,-093,"
            + "11b8,2797,-098,0000,0000,0000,0000,0000,0000,1000,00,000006,abd26284,"
        #expect(
            try #require(ITSFrameReader.read(negative)).cells == [
                .init(mcc: 404, mnc: 22, lac: 0x2797, cellID: 0x11B7, signal: 17)
            ])
    }

    @Test("OsmAnd carries batt, power, battery, ignition, rssi, operator and cell when known, nothing when not")
    func osmand() throws {
        let items = try #require(OsmAnd.items(for: Self.record(.position, telemetry: Self.telemetry), id: "dev"))
        let map = Dictionary(items, uniquingKeysWith: { a, _ in a })
        #expect(map["batt"] == "81" && map["power"] == "12.64" && map["battery"] == "4.07")
        #expect(map["ignition"] == "true" && map["rssi"] == "17" && map["operator"] == "IND airtel")
        #expect(map["cell"] == "404,45,6699,790526,17")
        let bare = try #require(OsmAnd.items(for: Self.record(.position, telemetry: nil), id: "dev"))
        let keys = Set(bare.map(\.0))
        #expect(keys.isDisjoint(with: ["batt", "power", "battery", "ignition", "rssi", "operator", "cell"]))
    }

    /// A position sent while an emergency is open, main power is cut and the enclosure is open says so: a state
    /// backend that takes its state from the latest frame does not see the emergency end, power back or the box
    /// shut seconds later. The status stays `NR`: no new SOS.
    @Test("status flags follow the box's state: emergency open, main power absent, enclosure open")
    func stateFlags() throws {
        let state = Telemetry(mainPower: false, enclosureOpen: true, emergencyOpen: true)
        let position = try #require(
            AIS140.frames(for: Self.record(.position, telemetry: state), identity: Self.identity, live: true).first)
        let read = try #require(ITSFrameReader.read(String(position.dropLast(2))))
        #expect(read.emergency == true)
        #expect(read.alarm == nil, "a position is not a new SOS")
        let fields = position.split(separator: ",", omittingEmptySubsequences: false)
        #expect(fields[24] == "0" && fields[28] == "O", "mains \(fields[24]), tamper \(fields[28])")
        // Help during an open emergency is still help: its emergency flag stays 0.
        let help = try #require(
            AIS140.frames(
                for: Self.record(.help(input: "help"), telemetry: state), identity: Self.identity, live: true
            ).first)
        #expect(ITSFrameReader.read(String(help.dropLast(2)))?.emergency == false)
        // Calm: the flags as before.
        let calm = Telemetry(mainPower: true, enclosureOpen: false, emergencyOpen: false)
        let quiet = try #require(
            AIS140.frames(for: Self.record(.position, telemetry: calm), identity: Self.identity, live: true).first)
        let quietFields = quiet.split(separator: ",", omittingEmptySubsequences: false)
        #expect(quietFields[24] == "1" && quietFields[27] == "0" && quietFields[28] == "C")
    }
}
