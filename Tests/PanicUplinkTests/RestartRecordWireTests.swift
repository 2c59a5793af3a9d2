import Foundation
import PanicCore
import PanicUplink
import Testing

/// Boot, restore and ignition records on every wire: each AIS-140 frame read back with the decoder written from
/// Traccar's `ItsProtocolDecoder`, none an SOS; OsmAnd's attributes; the JSON body round trip.
@Suite("Boot, restore and ignition records on the wire", .timeLimit(.minutes(1)))
struct RestartRecordWireTests {
    static let identity = AIS140FrameTests.identity

    static let boot = AIS140FrameTests.record(
        20,
        .boot(
            BootReport(
                reason: .powerCut, downMilliseconds: 95_000,
                found: [
                    FoundInput(input: "enclosure", state: .enclosureOpen),
                    FoundInput(input: "main-power", state: .powerLost),
                ])))
    static let wireRestored = AIS140FrameTests.record(21, .restored(reason: .wireCut, input: "driver"))
    static let closed = AIS140FrameTests.record(22, .restored(reason: .enclosure, input: "enclosure"))
    static let ignitionOn = AIS140FrameTests.record(23, .ignition(state: .on, input: "ignition"))
    static let ignitionOff = AIS140FrameTests.record(24, .ignition(state: .off, input: "ignition"))

    /// Sample frames (docs/uplink.md), CRCs computed independently with Python's `zlib.crc32`.
    static let golden: [String: String] = [
        "boot":
            #"$,NRM,ACME,0.9.0,NR,92,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,0,0.0,0.0,0,O,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000020,e6eecc98,*"#,
        "wire-restored":
            #"$,NRM,ACME,0.9.0,NR,93,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000021,8ca5d81b,*"#,
        "enclosure-closed":
            #"$,NRM,ACME,0.9.0,NR,94,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000022,1797f1e1,*"#,
        "ignition-on":
            #"$,NRM,ACME,0.9.0,IN,07,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,1,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000023,eadb0a17,*"#,
        "ignition-off":
            #"$,NRM,ACME,0.9.0,IF,08,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000024,65a862c9,*"#,
    ]

    @Test("each new kind gives its pinned sample frame")
    func pinned() {
        let records = [
            "boot": Self.boot, "wire-restored": Self.wireRestored, "enclosure-closed": Self.closed,
            "ignition-on": Self.ignitionOn, "ignition-off": Self.ignitionOff,
        ]
        for (name, record) in records {
            #expect(
                AIS140.frames(for: record, identity: Self.identity, live: true).first
                    == Self.golden[name].map { $0 + "\r\n" }, "\(name)")
        }
    }

    func read(_ record: Record) throws -> ITSFrameReader.Position {
        let frame = try #require(AIS140.frames(for: record, identity: Self.identity, live: true).first)
        return try #require(ITSFrameReader.read(String(frame.dropLast(2))), "\(frame)")
    }

    @Test("AIS-140: boot 92 and restores 93/94 are located NR frames, ignition IN/IF with 7/8; no SOS, no alarm")
    func ais140() throws {
        let boot = try read(Self.boot)
        #expect(boot.event == 92 && boot.alarm == nil && boot.emergency == false)
        #expect(boot.valid && boot.latitude == 26.912434 && boot.longitude == 75.787271)
        // What the box found at start: main power absent, the enclosure open (the frame's flags).
        let bootFrame = try #require(AIS140.frames(for: Self.boot, identity: Self.identity, live: true).first)
        #expect(bootFrame.contains(",0,0.0,0.0,0,O,"), "\(bootFrame)")
        let wire = try read(Self.wireRestored)
        #expect(wire.event == 93 && wire.alarm == nil && wire.emergency == false)
        let shut = try read(Self.closed)
        #expect(shut.event == 94 && shut.alarm == nil)
        let on = try read(Self.ignitionOn)
        #expect(on.event == 7 && on.ignition == true && on.alarm == nil)
        let off = try read(Self.ignitionOff)
        #expect(off.event == 8 && off.ignition == false && off.alarm == nil)
        #expect(
            try #require(AIS140.frames(for: Self.ignitionOn, identity: Self.identity, live: true).first)
                .contains(",IN,07,L,"))
        #expect(
            try #require(AIS140.frames(for: Self.ignitionOff, identity: Self.identity, live: true).first)
                .contains(",IF,08,L,"))
        // None of them goes to an emergency-only backend.
        for record in [Self.boot, Self.wireRestored, Self.closed, Self.ignitionOn] {
            #expect(AIS140.emergencyPacket(record, identity: Self.identity, live: true) == nil)
        }
    }

    @Test("AIS-140: a record with no fix at all says fix-valid 0, never a valid 0,0")
    func noFix() throws {
        let boot = AIS140FrameTests.record(25, Self.boot.body, fix: nil)
        let read = try read(boot)
        #expect(!read.valid)
    }

    @Test("OsmAnd: ignition=true/false, restored=REASON, event=boot with its reason; never an alarm")
    func osmAnd() throws {
        func items(_ record: Record) throws -> [String: String] {
            Dictionary(uniqueKeysWithValues: try #require(OsmAnd.items(for: record, id: "490154203237518")))
        }
        #expect(try items(Self.ignitionOn)["ignition"] == "true")
        #expect(try items(Self.ignitionOff)["ignition"] == "false")
        #expect(try items(Self.wireRestored)["restored"] == "wire-cut")
        #expect(try items(Self.closed)["restored"] == "enclosure")
        let boot = try items(Self.boot)
        #expect(boot["event"] == "boot" && boot["bootReason"] == "power-cut" && boot["downtime"] == "95")
        #expect(boot["found"] == "enclosure-open:enclosure,power-lost:main-power")
        for record in [Self.boot, Self.wireRestored, Self.closed, Self.ignitionOn, Self.ignitionOff] {
            #expect(try items(record)["alarm"] == nil)
        }
    }

    @Test("the new kinds' JSON bodies round-trip and read as docs/records.md says")
    func json() throws {
        for record in [Self.boot, Self.wireRestored, Self.closed, Self.ignitionOn, Self.ignitionOff] {
            let data = try JSONEncoder().encode(record)
            #expect(try JSONDecoder().decode(Record.self, from: data) == record)
        }
        let boot = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.boot)) as? [String: Any]
        #expect(boot?["kind"] as? String == "boot")
        let body = boot?["body"] as? [String: Any]
        #expect(body?["reason"] as? String == "power-cut")
        #expect(body?["downMs"] as? Int == 95_000)
        #expect((body?["found"] as? [[String: String]])?.first == ["input": "enclosure", "state": "enclosure-open"])
        let restored = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.closed)) as? [String: Any]
        #expect(restored?["kind"] as? String == "restored")
        #expect(restored?["body"] as? [String: String] == ["reason": "enclosure", "input": "enclosure"])
    }
}
