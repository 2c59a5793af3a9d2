import Foundation
import PanicCore
import PanicUplink
import Testing

/// Golden AIS-140 frames for every packet kind, each read back with the decoder written from Traccar's
/// `ItsProtocolDecoder` patterns (`ITSFrameReader`). The goldens were computed independently (Python's
/// `zlib.crc32` over the same field list) and checked against the same pattern with Python's `re`.
@Suite("AIS-140 frames")
struct AIS140FrameTests {
    static let identity = BoxIdentity(
        imei: "490154203237518", vehicleRegistration: "RJ14PB1234", vendorID: "ACME", firmwareVersion: "0.9.0")
    static let fix = RecordFix(
        latitude: 26.912434, longitude: 75.787271, altitude: 431.2, speed: 36.4, course: 87.5, hdop: 0.9,
        satellites: 11, ageMilliseconds: 800)
    /// 2025-11-24T16:00:00Z.
    static let base: Int64 = 1_764_000_000_000

    static func record(_ sequence: Int64, _ body: RecordBody, second: Int64 = 0, fix: RecordFix? = fix) -> Record {
        Record(
            device: "dev", sequence: sequence, previousHash: nil,
            draft: RecordDraft(
                id: "id-\(sequence)", time: RecordTime(epochMilliseconds: base + second * 1000), timeSource: .gnss,
                fix: fix, body: body))
    }

    static let golden: [String: String] = [
        "position":
            #"$,NRM,ACME,0.9.0,NR,01,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000007,c8e137f5,*"#,
        "history":
            #"$,NRM,ACME,0.9.0,NR,02,H,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000003,d4f545b7,*"#,
        "emergency":
            #"$,NRM,ACME,0.9.0,EA,10,L,490154203237518,RJ14PB1234,1,24112025,160001,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,1,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000008,4ba68bf1,*"#,
        "wireCut":
            #"$,NRM,ACME,0.9.0,TA,16,L,490154203237518,RJ14PB1234,1,24112025,160002,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000009,aae48dc4,*"#,
        "powerCut":
            #"$,NRM,ACME,0.9.0,BD,03,L,490154203237518,RJ14PB1234,1,24112025,160003,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,0,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000010,60606194,*"#,
        "powerRestored":
            #"$,NRM,ACME,0.9.0,BR,06,L,490154203237518,RJ14PB1234,1,24112025,160004,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000011,3cb050a9,*"#,
        "cleared":
            #"$,NRM,ACME,0.9.0,NR,11,L,490154203237518,RJ14PB1234,1,24112025,160005,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000012,27887a5b,*"#,
        "health": #"$,HLM,ACME,0.9.0,490154203237518,x,0,0.2,00010,00060,0000,00,0.0,0.0,3e616dfc,*"#,
        "epb":
            #"$,EPB,EMR,490154203237518,NM,24112025160001,A,26.912434,N,75.787271,E,431.2,36.4,0.0,G,RJ14PB1234,0000000000,68829692,*"#,
    ]

    func frame(_ record: Record, live: Bool = true) throws -> String {
        let frames = AIS140.frames(
            for: record, identity: Self.identity, live: live,
            health: .init(capacity: 50_000, positionIntervalSeconds: 60, emergencyIntervalSeconds: 10))
        try #require(frames.count == 1)
        #expect(frames[0].hasSuffix("*\r\n"))
        return String(frames[0].dropLast(1))
    }

    @Test("every record kind gives its golden frame")
    func goldenFrames() throws {
        #expect(try frame(Self.record(7, .position)) == Self.golden["position"])
        #expect(try frame(Self.record(3, .position), live: false) == Self.golden["history"])
        #expect(try frame(Self.record(8, .emergency(input: "panic-1"), second: 1)) == Self.golden["emergency"])
        #expect(
            try frame(Self.record(9, .tamper(reason: .wireCut, input: "panic-1"), second: 2)) == Self.golden["wireCut"])
        #expect(try frame(Self.record(10, .power(state: .lost, input: nil), second: 3)) == Self.golden["powerCut"])
        #expect(
            try frame(Self.record(11, .power(state: .restored, input: nil), second: 4)) == Self.golden["powerRestored"])
        #expect(
            try frame(Self.record(12, .cleared(alert: "id-8", by: "control-room"), second: 5)) == Self.golden["cleared"]
        )
        #expect(try frame(Self.record(13, .health(HealthReport(queueDepth: 120)))) == Self.golden["health"])
        let epb = AIS140.emergencyPacket(
            Self.record(8, .emergency(input: "panic-1"), second: 1), identity: Self.identity, live: true)
        #expect(epb.map { String($0.dropLast(1)) } == Self.golden["epb"])
        #expect(AIS140.emergencyPacket(Self.record(7, .position), identity: Self.identity, live: true) == nil)
        #expect(
            AIS140.login(Self.identity, fix: Self.fix)
                == "$,LGN,RJ14PB1234,490154203237518,0.9.0,26.912434,N,75.787271,E*\r\n")
        #expect(AIS140.heartbeat(Self.identity) == "$,HBT,ACME,0.9.0,490154203237518*\r\n")
    }

    @Test("Traccar's decoder reads the right IMEI, time, position, flags and alarm from each tracking frame")
    func traccarReadsThem() throws {
        let expected: [(String, String?, Int, Bool)] = [
            ("position", nil, 1, false), ("history", nil, 2, true), ("emergency", "sos", 10, false),
            ("wireCut", "tampering", 16, false), ("powerCut", "powerCut", 3, false),
            ("powerRestored", "powerRestored", 6, false), ("cleared", nil, 11, false),
        ]
        for (index, (name, alarm, event, archive)) in expected.enumerated() {
            let text = try #require(Self.golden[name])
            let position = try #require(ITSFrameReader.read(text), "\(name)")
            #expect(position.imei == "490154203237518")
            #expect(position.time == Self.base / 1000 + Int64(name == "history" ? 0 : max(0, index - 1)), "\(name)")
            #expect(position.latitude == 26.912434 && position.longitude == 75.787271)
            #expect(position.valid)
            #expect(position.alarm == alarm, "\(name)")
            #expect(position.event == event, "\(name)")
            #expect(position.archive == archive, "\(name)")
            #expect(position.satellites == 11 && position.altitude == 431.2 && position.hdop == 0.9)
            #expect(abs((position.speedKnots ?? 0) - 36.4 / 1.852) < 1e-9)
            #expect(position.course == 87.5)
            #expect(position.emergency == (name == "emergency"))
            #expect(position.power == 0)
        }
        let epbText = try #require(Self.golden["epb"])
        let epb = try #require(ITSFrameReader.read(epbText))
        #expect(epb.alarm == "sos" && epb.imei == "490154203237518" && epb.time == Self.base / 1000 + 1)
        #expect(epb.altitude == 431.2 && epb.latitude == 26.912434)
        // Login, heartbeat and health are not positions there either.
        let health = try #require(Self.golden["health"])
        #expect(ITSFrameReader.read(health) == nil)
        #expect(ITSFrameReader.read("$,LGN,RJ14PB1234,490154203237518,0.9.0,26.912434,N,75.787271,E*") == nil)
        #expect(ITSFrameReader.read("$,HBT,ACME,0.9.0,490154203237518*") == nil)
    }

    @Test("the reader agrees with Traccar's own test frames")
    func traccarSamples() throws {
        let samples: [(String, String, String?)] = [
            (
                "$,EPB,EMR,868997031721531,NM,14072020111520,A,28.359959,N,076.927553,E,261.41,0.1,0.0,G,NA00000000,"
                    + "N.A0000000,*", "868997031721531", "sos"
            ),
            (
                "$,04,XYZ123,0.0.1,BR,06,L,861359034137271,MH12AB1234,0,00,00,0000,00,00,00,000.000000,N,000.000000,E,"
                    + "000.0,000.00,00,000.0,00.00,00.00,IDEAIN,1,1,00.0,3.8,1,O,17,404,22,2797,11b7,11b9,2797,-093,"
                    + "11b8,2797,-098,0000,0000,0000,0000,0000,0000,1000,00,000006,abd26284,", "861359034137271",
                "powerRestored"
            ),
            (
                "$,CP,ATL,1.4D3_AIS140_1.0,EA,10,H,868728037717441,,1,31032019,140054,28.533699,N,77.269020,E,0.0,"
                    + "188.00,14,76.0,1.3,0.0,Idea,0,1,12.7,3.9,1,O,22,404,11,69,979c,fc1,69,18,fbf,69,15,e36e,69,14,"
                    + "ba2f,3ff,13,0111,00,249404,", "868728037717441", "sos"
            ),
        ]
        for (text, imei, alarm) in samples {
            let position = try #require(ITSFrameReader.read(text), "\(text.prefix(30))")
            #expect(position.imei == imei)
            #expect(position.alarm == alarm)
        }
        #expect(ITSFrameReader.read("$,01,XYZ123,0.0.1,861359034137271,MH12AB1234,") == nil)
    }

    @Test("the checksum is CRC-32 of the bytes from $ to the comma before it")
    func checksum() throws {
        #expect(AIS140.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        let text = try #require(Self.golden["position"])
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        let crcField = fields[fields.count - 2]
        let covered = text.dropLast(crcField.count + 2)
        #expect(String(AIS140.crc32(covered.utf8), radix: 16) == crcField)
    }

    @Test("a southern, western fix below sea level and a missing fix are still frames Traccar reads")
    func edgeFixes() throws {
        let south = RecordFix(latitude: -33.5, longitude: -70.25, altitude: -12, ageMilliseconds: 120_000)
        let text = try frame(Self.record(5, .position, fix: south))
        let position = try #require(ITSFrameReader.read(text))
        #expect(position.latitude == -33.5 && position.longitude == -70.25)
        #expect(position.altitude == 0)
        #expect(!position.valid)
        let noFix = try frame(Self.record(6, .emergency(input: "p"), fix: nil))
        let none = try #require(ITSFrameReader.read(noFix))
        #expect(!none.valid && none.alarm == "sos" && none.latitude == 0)
    }

    @Test("a booth sends its IMEI in the registration field")
    func boothRegistration() throws {
        let booth = BoxIdentity(imei: "490154203237518")
        let frames = AIS140.frames(for: Self.record(7, .position), identity: booth, live: true)
        #expect(frames.first?.contains(",490154203237518,490154203237518,") == true)
    }
}
