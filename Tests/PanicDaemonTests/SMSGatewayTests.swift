import Foundation
import Glibc
import Logging
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import PanicSigning
import PanicSim
import PanicStore
import Synchronization
import Testing

/// The simulated modem on a real pseudo-terminal, as a state SMS gateway's side of the network sees it: what the
/// box's `GSMModem` writes to the slave is answered by `SimulatedModem` from the master.
final class GatewayModem: Sendable {
    let pty: PseudoTerminal
    let modem: Mutex<SimulatedModem>

    init(refuseTexts: Int) throws {
        pty = try PseudoTerminal()
        modem = Mutex(SimulatedModem(refuseTexts: refuseTexts))
    }

    var sent: [SimulatedModem.Message] { modem.withLock { $0.sent } }
    var refused: [SimulatedModem.Message] { modem.withLock { $0.refused } }

    func run() async throws {
        let descriptor = dup(pty.master)
        let chunks = SerialReader.chunks(from: descriptor, clock: SystemMonotonicClock()) { _ = close(descriptor) }
        for try await chunk in chunks {
            let answer = modem.withLock { $0.receive(chunk.bytes) }
            if !answer.isEmpty { try pty.write(answer) }
        }
    }

    func with<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            let result = try await body(pty.slavePath)
            group.cancelAll()
            return result
        }
    }
}

/// An emergency SMS read as a state gateway reads it: by the AIS-140 §3.1.5 fields, in order.
struct EmergencySMS: Equatable {
    var imei, latitude, northSouth, longitude, eastWest, fix, speed, cellID, lac, dateTime, kind: String

    /// Parses `text` strictly: eleven comma-separated fields, each of the form the gateway expects.
    init?(_ text: String) {
        let fields = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 11 else { return nil }
        (imei, latitude, northSouth, longitude, eastWest, fix, speed, cellID, lac, dateTime, kind) = (
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8],
            fields[9], fields[10]
        )
        let digits = { (field: String, count: Int) in field.count == count && field.allSatisfy(\.isNumber) }
        let degrees = { (field: String) in
            let parts = field.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1].count == 6
                && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        }
        // A field the box does not know is `x`: the whole position when there was never a fix.
        let position =
            [latitude, northSouth, longitude, eastWest] == ["x", "x", "x", "x"]
            || (degrees(latitude) && ["N", "S"].contains(northSouth) && degrees(longitude)
                && ["E", "W"].contains(eastWest))
        guard digits(imei, 15), position, ["A", "V"].contains(fix), speed == "x" || Double(speed) != nil,
            cellID == "x" || Int(cellID) != nil, lac == "x" || Int(lac) != nil, digits(dateTime, 14),
            ["EMR", "HLP", "WCT", "BOP"].contains(kind)
        else { return nil }
    }
}

@Suite("SMS as a state gateway reads it: §3.1.5 fields over a real modem dialogue", .timeLimit(.minutes(2)))
struct SMSGatewayTests {
    static let gateway = "+919999000111"
    static let person = "+919812345678"
    static let depot = "+911412222333"
    static let imei = "490154203237518"
    static let start: Int64 = 1_764_000_000_000  // 2025-11-24 16:00:00 UTC

    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    func outbox() throws -> (Outbox, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sms-gw-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let outbox = try Outbox(
            path: directory + "/outbox.sqlite", sealer: RecordSigner(key: DeviceKey.generate()), logger: logger)
        return (outbox, directory)
    }

    @discardableResult
    func alert(
        _ outbox: Outbox, _ body: RecordBody, fix: RecordFix?, id: String = UUID().uuidString.lowercased()
    )
        throws -> Int64
    {
        let draft = RecordDraft(
            id: id, time: RecordTime(epochMilliseconds: Self.start), timeSource: .gnss, fix: fix, body: body)
        guard case .stored(let record) = try outbox.append(draft) else { throw CancellationError() }
        return record.sequence
    }

    func fallback(_ outbox: Outbox, path: String, clock: ManualClock) -> SMSFallback {
        SMSFallback(
            outbox: outbox, modem: GSMModem(path: path, timeout: .seconds(60)),
            configuration: .init(
                numbers: [Self.gateway, Self.person], after: .seconds(60), place: "RJ14PB1234",
                tamperNumbers: [Self.depot], formats: [Self.person: .text], imei: Self.imei,
                firstRetry: .seconds(10), longestRetry: .seconds(300)),
            clock: clock, wallClock: { RecordTime(epochMilliseconds: Self.start + 61_000) }, logger: logger)
    }

    @Test("every alert text to the gateway parses by the §3.1.5 fields; a refused text is sent again after its wait")
    func fieldsAndRetry() async throws {
        let (outbox, directory) = try outbox()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var moving = RecordFix(latitude: 26.912434, longitude: 75.787271, ageMilliseconds: 900)
        moving.speed = 42.46
        let emergency = try alert(outbox, .emergency(input: "panic-1"), fix: moving)
        // An old fix (the last known position, not a current one) far south-west, and no fix at all.
        try alert(
            outbox, .help(input: "help-1"),
            fix: RecordFix(latitude: -33.45, longitude: -70.6667, ageMilliseconds: 600_000))
        try alert(outbox, .tamper(reason: .wireCut, input: "panic-1"), fix: nil)
        let modem = try GatewayModem(refuseTexts: 1)
        let clock = ManualClock()
        try await modem.with { path in
            let fallback = fallback(outbox, path: path, clock: clock)
            let first = try await fallback.check()
            #expect(first.count == 5)
            if case .failed(emergency, Self.gateway, let reason)? = first.first {
                #expect(reason.contains("+CMS ERROR: 500"), "\(reason)")
            } else {
                Issue.record("\(first)")
            }
            #expect(try outbox.smsState(alert: emergency, number: Self.gateway) == .failed)
            // Refused: not tried again before its wait is over.
            clock.advance(by: .seconds(9))
            #expect(try await fallback.check().isEmpty)
            clock.advance(by: .seconds(1))
            let again = try await fallback.check()
            #expect(again.count == 1)
            if case .sent(emergency, Self.gateway, _)? = again.first {} else { Issue.record("\(again)") }
        }
        #expect(modem.refused.map(\.number) == [Self.gateway])
        let resent = modem.sent.filter { $0.number == Self.gateway && $0.text.hasSuffix(",EMR") }
        #expect(resent.map(\.text) == modem.refused.map(\.text), "the same text, sent again")

        let fielded = modem.sent.filter { $0.number != Self.person }
        #expect(fielded.count == 3)
        let parsed = fielded.map { EmergencySMS($0.text) }
        #expect(parsed.allSatisfy { $0 != nil }, "\(fielded.map(\.text))")
        let byKind = Dictionary(parsed.compactMap { $0 }.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
        let emr = try #require(byKind["EMR"])
        #expect(emr.imei == Self.imei)
        #expect([emr.latitude, emr.northSouth, emr.longitude, emr.eastWest] == ["26.912434", "N", "75.787271", "E"])
        #expect(emr.fix == "A" && emr.speed == "42.5")
        #expect(emr.cellID == "x" && emr.lac == "x", "not known to the box: the protocol's unknown, never 0")
        #expect(emr.dateTime == "24112025160000")
        let help = try #require(byKind["HLP"])
        #expect(
            [help.latitude, help.northSouth, help.longitude, help.eastWest] == ["33.450000", "S", "70.666700", "W"])
        #expect(help.fix == "V" && help.speed == "x")
        // The tamper text went to the depot only, and without a fix says so field by field.
        let wire = try #require(fielded.first { $0.number == Self.depot })
        #expect(wire.text == "\(Self.imei),x,x,x,x,V,x,x,x,24112025160000,WCT")
        #expect(!modem.sent.contains { $0.number != Self.depot && $0.text.hasSuffix("WCT") })
        // The person asked for a sentence.
        #expect(modem.sent.filter { $0.number == Self.person }.allSatisfy { $0.text.hasPrefix("PANIC ") })
    }

    @Test("a refused text for an alert cleared meanwhile is not sent again")
    func clearedStopsRetry() async throws {
        let (outbox, directory) = try outbox()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let id = UUID().uuidString.lowercased()
        let emergency = try alert(
            outbox, .emergency(input: "panic-1"), fix: RecordFix(latitude: 26.9, longitude: 75.8, ageMilliseconds: 0),
            id: id)
        let modem = try GatewayModem(refuseTexts: 2)
        let clock = ManualClock()
        try await modem.with { path in
            let fallback = fallback(outbox, path: path, clock: clock)
            _ = try await fallback.check()
            #expect(try outbox.smsState(alert: emergency, number: Self.gateway) == .failed)
            #expect(try outbox.smsState(alert: emergency, number: Self.person) == .failed)
            try alert(outbox, .cleared(alert: id, by: "operator"), fix: nil)
            clock.advance(by: .seconds(300))
            #expect(try await fallback.check().isEmpty)
        }
        #expect(modem.sent.isEmpty)
        #expect(modem.refused.count == 2)
    }

    @Test("the wait after each refusal doubles, up to the longest")
    func backoff() {
        let configuration = SMSFallback.Configuration(
            numbers: [], place: "x", firstRetry: .seconds(10), longestRetry: .seconds(300))
        #expect(
            (1...7).map { configuration.retryDelay(afterRefusals: $0) }
                == [10, 20, 40, 80, 160, 300, 300].map { Duration.seconds($0) })
    }
}
