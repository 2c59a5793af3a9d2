import Foundation
import PanicCore
import PanicUplink
import Testing

/// The C-DAC dialect's frames, pinned against public sample frames (the iStartek heartbeat, the
/// vendor-first `EPB` of Traccar's `ItsProtocolDecoderTest`) and read back with the decoder written from Traccar's
/// pattern wherever Traccar decodes that frame type. Goldens computed independently (Python's `zlib.crc32` over the
/// same field list).
@Suite("AIS-140 C-DAC dialect frames", .timeLimit(.minutes(1)))
struct AIS140CDACTests {
    static let identity = AIS140FrameTests.identity

    static let telemetry = Telemetry(
        radio: .init(
            signal: 22, operatorName: "IDEA P", mcc: 404, mnc: 82, serving: .init(lac: 0x0FB1, cellID: 0x3B26),
            neighbours: [.init(lac: 0x0FB1, cellID: 0x516B, signal: 18)]),
        supply: .init(mainVolts: 14.2, backupVolts: 4.17, batteryPercent: 94), ignition: true)

    static func record(
        _ sequence: Int64, _ body: RecordBody, second: Int64 = 0, telemetry: Telemetry? = nil
    ) -> Record {
        Record(
            device: "dev", sequence: sequence, previousHash: nil,
            draft: RecordDraft(
                id: "id-\(sequence)", time: RecordTime(epochMilliseconds: AIS140FrameTests.base + second * 1000),
                timeSource: .gnss, fix: AIS140FrameTests.fix, body: body, telemetry: telemetry))
    }

    static let golden: [String: String] = [
        "position":
            "$,NRM,ACME,0.9.0,NR,01,L,490154203237518,RJ14PB1234,1,24112025,160000,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,IDEA P,1,1,14.2,4.2,0,C,22,404,82,FB1,3B26,18,FB1,516B,0,0,0,0,0,0,0,0,0,0000,00,000007,0a5e09cc,*",
        "help":
            "$,NRM,ACME,0.9.0,NR,90,L,490154203237518,RJ14PB1234,1,24112025,160006,26.912434,N,75.787271,E,36.4,87.50,11,431.2,0.00,0.90,,0,1,0.0,0.0,0,C,99,x,x,x,x,0,0,0,0,0,0,0,0,0,0,0,0,0000,00,000014,7e6088d7,*",
        "epb":
            "$,EPB,ACME,EMR,490154203237518,NM,24112025160001,A,26.912434,N,75.787271,E,431.2,36.4,0.0,G,RJ14PB1234,0000000000,da53af5c,*",
        "epbHelp":
            "$,EPB,ACME,HLP,490154203237518,NM,24112025160006,A,26.912434,N,75.787271,E,431.2,36.4,0.0,G,RJ14PB1234,0000000000,d311329b,*",
    ]

    @Test("the heartbeat carries the health fields exactly as the issue's iStartek sample")
    func heartbeatSample() {
        let sample = "$,HBT,istartracker,V100,HP,867458047932167,94%,20%,0.00%,20,30,0000,00,0.0,0.0*"
        let identity = BoxIdentity(imei: "867458047932167", vendorID: "istartracker", firmwareVersion: "V100")
        let settings = AIS140.HealthSettings(
            capacity: 50_000, positionIntervalSeconds: 30, emergencyIntervalSeconds: 20)
        let frame = AIS140.CDAC.heartbeat(
            identity, settings: settings, batteryPercent: 94, lowBatteryPercent: 20, memoryPercent: 0)
        #expect(frame == sample + "\r\n")
        // A keep-alive heartbeat knows no battery or memory: empty, never a 0 % that looks like a reading.
        #expect(
            AIS140.CDAC.heartbeat(identity, settings: settings)
                == "$,HBT,istartracker,V100,HP,867458047932167,,0%,,20,30,0000,00,0.0,0.0*\r\n")
    }

    @Test("a health record becomes the HBT health packet with its battery and the outbox's fill")
    func healthRecord() throws {
        let report = HealthReport(
            queueDepth: 100, oldestUndeliveredAgeMilliseconds: nil, fixAgeMilliseconds: nil, inputFaults: [],
            diskFreeBytes: nil, droppedRecords: 0, faults: [])
        let record = Self.record(3, .health(report), telemetry: Self.telemetry)
        let frames = AIS140.CDAC.frames(
            for: record, identity: Self.identity, live: true,
            health: .init(capacity: 50_000, positionIntervalSeconds: 60, emergencyIntervalSeconds: 10))
        #expect(frames == ["$,HBT,ACME,0.9.0,HP,490154203237518,94%,0%,0.20%,10,60,0000,00,0.0,0.0*\r\n"])
    }

    @Test("tracking frames carry the record's telemetry and decode with Traccar's pattern; help is not an emergency")
    func tracking() throws {
        let position = try #require(
            AIS140.CDAC.frames(
                for: Self.record(7, .position, telemetry: Self.telemetry), identity: Self.identity, live: true
            ).first)
        #expect(position == Self.golden["position"]! + "\r\n")
        let read = try #require(ITSFrameReader.read(String(position.dropLast(2))))
        #expect(read.ignition == true)
        #expect(read.power == 14.2)
        #expect(read.battery == 4.2)
        #expect(read.alarm == nil)
        #expect(read.event == 1)

        let help = try #require(
            AIS140.CDAC.frames(
                for: Self.record(14, .help(input: "help-1"), second: 6), identity: Self.identity, live: true
            )
            .first)
        #expect(help == Self.golden["help"]! + "\r\n")
        let helpRead = try #require(ITSFrameReader.read(String(help.dropLast(2))))
        #expect(helpRead.event == 90)
        #expect(helpRead.emergency == false)
        #expect(helpRead.alarm == nil)

        let emergency = try #require(
            AIS140.CDAC.frames(
                for: Self.record(8, .emergency(input: "panic-1"), second: 1), identity: Self.identity, live: true
            ).first)
        let emergencyRead = try #require(ITSFrameReader.read(String(emergency.dropLast(2))))
        #expect(emergencyRead.alarm == "sos")
        #expect(emergencyRead.event == 10)
        #expect(emergencyRead.emergency == true)
    }

    @Test("EPB puts the vendor id before the type, as the public iTriangle sample; EMR and HLP differ")
    func emergencyPacket() throws {
        // traccar/traccar ItsProtocolDecoderTest: a vendor-first EPB, which Traccar's pattern does not read
        // (verifyNull) — neither does ours, so only a C-DAC backend gets this layout.
        let sample =
            "$EPB,iTriangle1,EMR,864495034445822,SP,03082018110730,A,22.829292,N,75.935806,E,543.0,0.0,0,G,KA01G1234,+9164061023*13"
        #expect(ITSFrameReader.read(sample) == nil)
        let identity = BoxIdentity(
            imei: "864495034445822", vehicleRegistration: "KA01G1234", vendorID: "iTriangle1", firmwareVersion: "1")
        // 2018-08-03T11:07:30Z.
        let record = Record(
            device: "dev", sequence: 1, previousHash: nil,
            draft: RecordDraft(
                id: "x", time: RecordTime(epochMilliseconds: 1_533_294_450_000), timeSource: .gnss,
                fix: RecordFix(latitude: 22.829292, longitude: 75.935806, altitude: 543, speed: 0, ageMilliseconds: 0),
                body: .emergency(input: "panic-1")))
        let ours = try #require(AIS140.CDAC.emergencyPacket(record, identity: identity, live: false))
        let fields = ours.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let theirs = sample.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        // `$,EPB` for `$EPB`: the same fields from the vendor id to the registration, but the distance (`0.0`).
        #expect(Array(fields[2...13]) == Array(theirs[1...12]))
        #expect(Array(fields[15...16]) == Array(theirs[14...15]))

        let emergency = try #require(
            AIS140.CDAC.emergencyPacket(
                Self.record(8, .emergency(input: "panic-1"), second: 1), identity: Self.identity, live: true))
        let help = try #require(
            AIS140.CDAC.emergencyPacket(
                Self.record(14, .help(input: "help-1"), second: 6), identity: Self.identity, live: true))
        #expect(emergency == Self.golden["epb"]! + "\r\n")
        #expect(help == Self.golden["epbHelp"]! + "\r\n")
        #expect(AIS140.CDAC.emergencyPacket(Self.record(7, .position), identity: Self.identity, live: true) == nil)
    }

    @Test("the transport picks the layouts by dialect")
    func transportDialect() {
        var options = AIS140Options(identity: Self.identity)
        options.dialect = .cdac
        let transport = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        let position = OutgoingRecord(record: Self.record(7, .position, telemetry: Self.telemetry), live: true)
        #expect(transport.frames(for: position) == [Self.golden["position"]! + "\r\n"])
        options.emergencyOnly = true
        let epb = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        let help = OutgoingRecord(record: Self.record(14, .help(input: "help-1"), second: 6), live: true)
        #expect(epb.frames(for: help) == [Self.golden["epbHelp"]! + "\r\n"])
        #expect(epb.frames(for: position).isEmpty)
        options.dialect = .traccar
        let traccar = AIS140Transport(url: "tcp://127.0.0.1:1", options: options, trust: .system)
        #expect(traccar.frames(for: help).first?.hasPrefix("$,EPB,HLP,") == true)
    }

    @Test("a C-DAC backend over a real session: its health frame's own $HBT answer does not end the exchange early")
    func cdacSession() async throws {
        try await withAIS140Receiver { receiver in
            var options = AIS140Options(identity: Self.identity)
            options.dialect = .cdac
            let transport = AIS140Transport(url: receiver.url, options: options, trust: .system)
            let report = HealthReport(
                queueDepth: 1, oldestUndeliveredAgeMilliseconds: nil, fixAgeMilliseconds: nil, inputFaults: [],
                diskFreeBytes: nil, droppedRecords: 0, faults: [])
            let batch = [
                OutgoingRecord(record: Self.record(1, .health(report)), live: true),
                OutgoingRecord(record: Self.record(2, .position, telemetry: Self.telemetry), live: true),
            ]
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await transport.run() }
                #expect(await transport.deliver(batch, timeout: .seconds(10)) == ReceiverReport(acknowledged: 2))
                // The next exchange reads its own answer, not one left over from the first.
                receiver.set(.silentHeartbeat)
                let second = await transport.deliver(Array(batch.suffix(1)), timeout: .seconds(10))
                #expect(second.acknowledged == 0, "\(second)")
                group.cancelAll()
            }
            let texts = receiver.frames.map(\.text)
            // Health and closing heartbeat; the second delivery's heartbeat, then the same again on a fresh session
            // (the server closed the kept one without answering).
            #expect(texts.filter { $0.hasPrefix("$,HBT,ACME,0.9.0,HP,") }.count == 4)
            #expect(texts.filter { $0.hasPrefix("$,LGN,") }.count == 2)
        }
    }
}
