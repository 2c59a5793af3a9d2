import Foundation
import PanicCore
import PanicUplink
import Testing

/// Help and emergency on every wire: pinned sample frames (CRCs computed independently with Python's
/// `zlib.crc32`), each read back with the decoder written from Traccar's `ItsProtocolDecoder` patterns, and the
/// per-backend choice not to send help at all.
@Suite("Help and emergency differ on the wire", .timeLimit(.minutes(1)))
struct AlertKindWireTests {
    static let identity = AIS140FrameTests.identity

    static let helpFrame =
        #"$,NRM,ACME,0.9.0,NR,90,L,490154203237518,RJ14PB1234,1,24112025,160006,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000014,7e6088d7,*"#
    static let helpEPB =
        #"$,EPB,HLP,490154203237518,NM,24112025160006,A,26.912434,N,75.787271,E,431.2,36.4,0.0,G,RJ14PB1234,0000000000,61c00b55,*"#

    static let help = AIS140FrameTests.record(14, .help(input: "help"), second: 6)
    static let emergency = AIS140FrameTests.record(8, .emergency(input: "panic-1"), second: 1)

    @Test("AIS-140: help is a located NR frame with alert 90 and no emergency flag; emergency stays EA/10 and SOS")
    func ais140Tracking() throws {
        let help = try #require(AIS140.frames(for: Self.help, identity: Self.identity, live: true).first)
        #expect(help == Self.helpFrame + "\r\n")
        let emergency = try #require(AIS140.frames(for: Self.emergency, identity: Self.identity, live: true).first)
        #expect(emergency == AIS140FrameTests.golden["emergency"].map { $0 + "\r\n" })
        #expect(help != emergency)

        let readHelp = try #require(ITSFrameReader.read(Self.helpFrame))
        #expect(readHelp.alarm == nil, "a help request must not read as an SOS")
        #expect(readHelp.emergency == false)
        #expect(readHelp.event == 90)
        #expect(readHelp.valid && readHelp.latitude == 26.912434 && readHelp.longitude == 75.787271)
        let readEmergency = try #require(ITSFrameReader.read(String(emergency.dropLast(1))))
        #expect(readEmergency.alarm == "sos" && readEmergency.emergency == true && readEmergency.event == 10)
    }

    @Test("AIS-140 EPB: help is EPB,HLP (no SOS there), emergency stays EPB,EMR (SOS)")
    func ais140EPB() throws {
        let help = try #require(AIS140.emergencyPacket(Self.help, identity: Self.identity, live: true))
        #expect(help == Self.helpEPB + "\r\n")
        let emergency = try #require(AIS140.emergencyPacket(Self.emergency, identity: Self.identity, live: true))
        #expect(emergency.hasPrefix("$,EPB,EMR,"))
        #expect(try #require(ITSFrameReader.read(Self.helpEPB)).alarm == nil)
        #expect(try #require(ITSFrameReader.read(String(emergency.dropLast(1)))).alarm == "sos")
    }

    @Test("OsmAnd: help is alarm=general with panic=help, emergency alarm=sos")
    func osmAnd() throws {
        let help = Dictionary(
            uniqueKeysWithValues: try #require(OsmAnd.items(for: Self.help, id: "490154203237518")))
        #expect(help["alarm"] == "general")
        #expect(help["panic"] == "help")
        #expect(help["lat"] == "26.912434")
        let emergency = Dictionary(
            uniqueKeysWithValues: try #require(OsmAnd.items(for: Self.emergency, id: "490154203237518")))
        #expect(emergency["alarm"] == "sos")
        #expect(emergency["panic"] == nil)
    }

    @Test("the end of a help request is alert 91, not AIS-140's emergency-off 11; send_help false keeps it back too")
    func helpCleared() throws {
        let cleared = AIS140FrameTests.record(15, .cleared(alert: "id-14", by: "control-room"), second: 7)
        let help = try #require(
            AIS140.frames(for: cleared, identity: Self.identity, live: true, clearing: .help).first)
        let emergency = try #require(
            AIS140.frames(for: cleared, identity: Self.identity, live: true, clearing: .emergency).first)
        #expect(try #require(ITSFrameReader.read(String(help.dropLast(1)))).event == 91)
        #expect(try #require(ITSFrameReader.read(String(help.dropLast(1)))).alarm == nil)
        #expect(try #require(ITSFrameReader.read(String(emergency.dropLast(1)))).event == 11)
        // Unknown (the outbox no longer has the alert): the emergency-off it always was.
        #expect(AIS140.frames(for: cleared, identity: Self.identity, live: true).first == emergency)

        var options = AIS140Options(identity: Self.identity)
        options.sendHelp = false
        let transport = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        #expect(transport.frames(for: OutgoingRecord(record: cleared, live: true, clearedKind: .help)).isEmpty)
        #expect(transport.frames(for: OutgoingRecord(record: cleared, live: true, clearedKind: .emergency)).count == 1)
    }

    @Test("send_help false: the backend gets no frame for help, still the emergency")
    func sendHelpOff() async throws {
        var options = AIS140Options(identity: Self.identity)
        options.sendHelp = false
        let transport = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        #expect(transport.frames(for: OutgoingRecord(record: Self.help, live: true)).isEmpty)
        #expect(transport.frames(for: OutgoingRecord(record: Self.emergency, live: true)).count == 1)
        options.emergencyOnly = true
        let epb = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        #expect(epb.frames(for: OutgoingRecord(record: Self.help, live: true)).isEmpty)
        options.sendHelp = true
        let epbHelp = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        #expect(epbHelp.frames(for: OutgoingRecord(record: Self.help, live: true)) == [Self.helpEPB + "\r\n"])

        let osmand = OsmAndTransport(
            url: "http://127.0.0.1:1/", options: OsmAndOptions(deviceID: "d", sendHelp: false), trust: .system)
        #expect(osmand.requestURL(for: OutgoingRecord(record: Self.help, live: true)) == nil)
        #expect(osmand.requestURL(for: Self.emergency)?.contains("alarm=sos") == true)
        try await osmand.shutdown()
    }
}
