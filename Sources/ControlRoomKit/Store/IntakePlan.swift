import Foundation
import PanicCore
import PanicSigning

/// The ledger rows one request's records touch, read inside the ingest transaction: the entries at each record's
/// sequence number and its two neighbours, and which of the records' ids are already stored.
public struct LedgerRows: Sendable {
    public var entries: [Int64: LedgerEntry]
    public var recordIDs: Set<String>

    public init(entries: [Int64: LedgerEntry] = [:], recordIDs: Set<String> = []) {
        self.entries = entries
        self.recordIDs = recordIDs
    }
}

/// What the ledger half of `RecordRules` decided for one request, as writes a store carries out: the records to
/// insert, findings, alert changes. Pure: the store reads `LedgerRows` (`sequences`, `recordIDs`), this decides,
/// the store writes — so SQLite and PostgreSQL run the very same rules.
public struct IntakePlan: Sendable {
    /// A record to insert.
    public struct NewRecord: Sendable {
        public var device: String
        public var sequence: Int64
        public var id: String
        public var kind: String
        public var timeMs: Int64
        public var hash: String
        public var previousHash: String?
        public var envelope: String
    }

    /// An alert change, applied in record order.
    public enum AlertChange: Sendable {
        /// A new alert (ignored when the alert is already stored).
        case open(
            device: String, id: String, sequence: Int64, kind: String, input: String?, pressedMs: Int64,
            timeSource: String, fix: String?)
        /// The device confirmed the clear of `alert`.
        case deviceCleared(device: String, alert: String)
    }

    public private(set) var results: [RecordResult] = []
    public private(set) var records: [NewRecord] = []
    public private(set) var findings: [FindingRow] = []
    public private(set) var alerts: [AlertChange] = []
    /// Each vehicle's newest fix among the stored records (`VehiclePosition.newest`); the store keeps it only when
    /// it is newer than the one it has.
    public var positions: [VehiclePosition] { VehiclePosition.newest(storedPositions) }
    private var storedPositions: [VehiclePosition] = []
    /// The rows given, with this plan's stored records added as the rules' ledger stored them: what a later
    /// request of the same device in one transaction must see.
    public private(set) var rowsAfter = LedgerRows()

    /// The sequence numbers whose ledger entries the rules may ask for.
    public static func sequences(of records: [GenuineRecord]) -> [Int64] {
        Array(Set(records.flatMap { [$0.record.sequence - 1, $0.record.sequence, $0.record.sequence + 1] })).sorted()
    }

    /// The record ids the rules may ask about.
    public static func recordIDs(of records: [GenuineRecord]) -> [String] { Array(Set(records.map(\.record.id))) }

    /// Runs the rules over `records` against `rows` (what is stored), each record seeing the ones before it.
    public init(_ records: [GenuineRecord], rows: LedgerRows) throws {
        var ledger = PlannedLedger(rows: rows)
        defer { rowsAfter = ledger.rows }
        for genuine in records {
            switch try RecordRules.admit(genuine, into: &ledger) {
            case .stored(let record, let hash, let findings):
                self.records.append(
                    NewRecord(
                        device: record.device, sequence: record.sequence, id: record.id, kind: record.kind.rawValue,
                        timeMs: record.time.epochMilliseconds, hash: hash, previousHash: record.previousHash,
                        envelope: genuine.envelope))
                for finding in findings { note(finding) }
                noteAlert(record)
                noteContinuity(record)
                if let position = VehiclePosition(record) { storedPositions.append(position) }
                results.append(RecordResult(status: .accepted, sequence: record.sequence))
            case .resent(let record):
                results.append(RecordResult(status: .duplicate, sequence: record.sequence))
            case .refused(let record, let finding):
                // Forks and replays are the device's stream misbehaving, kept for audit; the rest is noise.
                if finding.kind == .fork || finding.kind == .replay { note(finding) }
                results.append(
                    RecordResult(status: .rejected, sequence: record?.sequence, reason: finding.rejection ?? .malformed)
                )
            }
        }
    }

    private mutating func note(_ finding: VerificationFinding) {
        switch finding {
        case .fork(let device, let sequence), .replay(let device, let sequence),
            .brokenChain(let device, let sequence):
            findings.append(FindingRow(device: device, sequence: sequence, name: finding.name))
        default:
            return
        }
    }

    private mutating func noteAlert(_ record: Record) {
        switch record.body {
        case .emergency(let input), .help(let input), .tamper(_, let input):
            let fix = record.fix.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
            alerts.append(
                .open(
                    device: record.device, id: record.id, sequence: record.sequence, kind: record.kind.rawValue,
                    input: StorableText.label(input), pressedMs: record.time.epochMilliseconds,
                    timeSource: record.timeSource.rawValue,
                    fix: fix))
        case .cleared(let alert, _):
            alerts.append(.deviceCleared(device: record.device, alert: alert))
        default:
            break
        }
    }

    /// A health record reporting a lost outbox becomes the device finding `outbox-lost` (see
    /// `ControlRoom.outboxLostFinding`).
    private mutating func noteContinuity(_ record: Record) {
        guard case .health(let report) = record.body,
            report.faults.contains(where: ControlRoom.outboxLossFaults.contains)
        else { return }
        findings.append(
            FindingRow(device: record.device, sequence: record.sequence, name: ControlRoom.outboxLostFinding))
    }
}

/// The rules' ledger over rows read up front, plus what this plan stored so far.
private struct PlannedLedger: RecordLedger {
    var rows: LedgerRows

    func key(id keyID: String) -> RegisteredKey? { nil }  // signatures were checked before (`authenticate`)

    func entry(device: String, sequence: Int64) -> LedgerEntry? { rows.entries[sequence] }

    func containsRecord(device: String, id recordID: String) -> Bool { rows.recordIDs.contains(recordID) }

    mutating func store(_ record: Record, entry: LedgerEntry, envelope: String) {
        rows.entries[record.sequence] = entry
        rows.recordIDs.insert(record.id)
    }
}
