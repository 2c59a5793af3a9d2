import Foundation
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import PanicSim
import PanicStore
import PanicUplink
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A simulated GSM modem on a real pseudo-terminal for `panicd sim`: the box's `GSMModem` opens the slave side as it
/// would a USB modem's AT port; what it writes is read from the master side and answered by `SimulatedModem`. Its
/// network is separate from the box's data link, so a scenario can have data down and SMS up. The control room's
/// escalation tests put its `GSMModem` on one too.
public final class SimulatedModemPort: Sendable {
    let pty: PseudoTerminal
    private let modem = Mutex(SimulatedModem())
    private let onMessage: @Sendable (SimulatedModem.Message) -> Void

    public init(onMessage: @escaping @Sendable (SimulatedModem.Message) -> Void) throws {
        pty = try PseudoTerminal()
        self.onMessage = onMessage
    }

    /// The slave side's path (the box's modem port).
    public var path: String { pty.slavePath }
    /// The messages the modem accepted, in order.
    public var sent: [SimulatedModem.Message] { modem.withLock { $0.sent } }

    /// Answers until cancelled.
    public func run() async throws {
        let descriptor = dup(pty.master)
        let chunks = SerialReader.chunks(from: descriptor, clock: SystemMonotonicClock()) { _ = close(descriptor) }
        for try await chunk in chunks {
            let (answer, fresh) = modem.withLock { modem -> ([UInt8], [SimulatedModem.Message]) in
                let before = modem.sent.count
                let answer = modem.receive(chunk.bytes)
                return (answer, Array(modem.sent.dropFirst(before)))
            }
            for message in fresh { onMessage(message) }
            if !answer.isEmpty { try pty.write(answer) }
        }
    }

    /// Whether every alert went once to each number (no message twice, as many messages as the outbox says were
    /// sent), and whether each text reads, field by field as a state SMS gateway parses the AIS-140 §3.1.5 format, as
    /// the alert it reports: its IMEI, position, fix flag, Cell ID and LAC, date and time, and kind.
    func check(outbox: Outbox, numbers: [String], imei: String?) throws -> (text: String, held: Bool) {
        let sent = self.sent
        let recorded = try outbox.smsMessages().filter { $0.state == .sent }
        let pairs = sent.map { "\($0.number) \($0.text)" }
        let unique = Set(pairs).count == pairs.count
        let alerts = Set(recorded.map(\.alert)).count
        let records = try outbox.records().compactMap { $0.decodedRecord() }
        var problems: [String] = []
        var withCell = 0
        for message in sent {
            switch GatewayReading.read(message.text, imei: imei, records: records) {
            case .success(let cell): if cell { withCell += 1 }
            case .failure(let problem): problems.append("\(LogText.quoted(message.text, limit: 80)): \(problem)")
            }
        }
        let text =
            "sms: \(sent.count) messages, \(alerts) alert(s) to \(numbers.count) number(s), each once; every text "
            + "read by its §3.1.5 fields as its alert (\(withCell) with the modem's serving cell)"
        let held =
            unique && sent.count == recorded.count && sent.count == alerts * numbers.count && !sent.isEmpty
            && problems.isEmpty
        guard held else {
            return (
                text + " (recorded \(recorded.count), duplicates: \(!unique))"
                    + (problems.isEmpty ? "" : ": " + problems.prefix(3).joined(separator: "; ")), false
            )
        }
        return (text, true)
    }
}

/// A state SMS gateway's reading of an AIS-140 §3.1.5 emergency text
/// (`IMEI,LAT,N/S,LON,E/W,FIX,SPEED,CELL_ID,LAC,DDMMYYYYHHMMSS,KIND`), written from the format's description
/// (docs/outbox.md → *SMS*), not from the box's composer: it splits the fields and checks each against the alert
/// record whose time and kind the text names.
enum GatewayReading {
    /// Success: whether the text carried a serving cell; failure: what a gateway would get wrong.
    static func read(_ text: String, imei: String?, records: [Record]) -> Result<Bool, GatewayProblem> {
        let fields = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 11 else { return .failure(.init("\(fields.count) fields, not 11")) }
        let kinds: [String: RecordKind] = ["EMR": .emergency, "HLP": .help, "WCT": .tamper, "BOP": .tamper]
        guard let kind = kinds[fields[10]] else { return .failure(.init("kind \(fields[10])")) }
        let stamp = fields[9]
        guard
            let record = records.first(where: { record in
                guard record.kind == kind else { return false }
                let (date, time) = AIS140.dateTime(record.time)
                return date + time == stamp
            })
        else { return .failure(.init("no \(kind.rawValue) record at \(stamp)")) }
        if let imei, fields[0] != imei { return .failure(.init("IMEI \(fields[0])")) }
        if let fix = record.fix {
            guard let lat = Double(fields[1]), let lon = Double(fields[3]),
                abs((fields[2] == "S" ? -lat : lat) - fix.latitude) < 0.000_001,
                abs((fields[4] == "W" ? -lon : lon) - fix.longitude) < 0.000_001
            else { return .failure(.init("position \(fields[1...4].joined(separator: ","))")) }
            let valid = fix.ageMilliseconds <= AIS140.validFixAgeMilliseconds
            guard fields[5] == (valid ? "A" : "V") else { return .failure(.init("fix flag \(fields[5])")) }
        } else if fields[1...4].contains(where: { $0 != "x" }) {
            return .failure(.init("a position without a fix"))
        }
        if let serving = record.telemetry?.radio?.serving {
            guard Int(fields[7], radix: 16) == serving.cellID, Int(fields[8], radix: 16) == serving.lac else {
                return .failure(.init("cell \(fields[7]) LAC \(fields[8]), the modem said \(serving)"))
            }
            return .success(true)
        }
        guard fields[7] == "x", fields[8] == "x" else { return .failure(.init("a cell without a reading")) }
        return .success(false)
    }
}

struct GatewayProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
