import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning

extension ControlRoom {
    /// Verifies, stores and answers one batch from a device (see `RecordBatchResponse`).
    ///
    /// The request's proof and every envelope's signature are checked first, outside the store's lock; only
    /// genuine records take it. Acks are taken, and alerts and commands answered, only for a request the device
    /// signed (`authenticate`). Throws `IntakeRefusal` for a batch over `limits`, or one whose envelopes fail
    /// verification `limits.verificationFailures` times.
    public func receive(_ batch: RecordBatch) throws -> RecordBatchResponse {
        let now = wallClock()
        let registry = try self.registry.current()
        let screened: [Screened]
        do {
            try limits.check(batch)
            screened = try screen(batch, keys: registry)
        } catch let refusal as IntakeRefusal {
            logRejections(device: batch.device, [:], refusal: refusal, now: now)
            throw refusal
        }
        let authentication = authenticate(batch, registry: registry, now: now)
        let response = try state.withLock { state in
            try state.connection.transaction {
                var results: [RecordResult] = []
                for item in screened {
                    switch item {
                    case .genuine(let genuine):
                        results.append(try ingest(genuine, keys: registry, now: now, state))
                    case .refused(let result): results.append(result)
                    }
                }
                guard authentication.verified else {
                    return RecordBatchResponse(
                        results: results, alerts: [], commands: [], authentication: authentication)
                }
                let ack = try state.statement("UPDATE commands SET acked = 1 WHERE nonce = ?1 AND device = ?2")
                for nonce in batch.commandAcks { try ack.bind([.text(nonce), .text(batch.device)]).run() }
                return RecordBatchResponse(
                    results: results, alerts: try remoteAlerts(device: batch.device, state),
                    commands: try pendingCommands(device: batch.device, now: now, state),
                    authentication: authentication)
            }
        }
        var rejections: [RejectionReason: Int] = [:]
        for result in response.results where result.status == .rejected {
            rejections[result.reason ?? .malformed, default: 0] += 1
        }
        logRejections(device: batch.device, rejections, refusal: nil, now: now)
        return response
    }

    /// An envelope after the signature check: genuine, or already answered.
    enum Screened {
        case genuine(GenuineRecord)
        case refused(RecordResult)
    }

    /// The signature half of the rules over every envelope, outside the store's lock; throws once
    /// `limits.verificationFailures` envelopes failed it (a hostile batch costs that many checks, not thousands).
    private func screen(_ batch: RecordBatch, keys registry: DeviceRegistry.Snapshot) throws -> [Screened] {
        var screened: [Screened] = []
        screened.reserveCapacity(batch.envelopes.count)
        var failures = 0
        for (index, text) in batch.envelopes.enumerated() {
            switch RecordRules.authenticate(text, sender: batch.device, key: { registry.byKeyID[$0] }) {
            case .genuine(let genuine): screened.append(.genuine(genuine))
            case .refused(let record, let finding):
                let reason = finding.rejection ?? .malformed
                if reason == .badSignature || reason == .malformed {
                    failures += 1
                    if failures >= limits.verificationFailures {
                        throw IntakeRefusal.failedVerification(failures: failures, checked: index + 1, reason: reason)
                    }
                }
                screened.append(.refused(RecordResult(status: .rejected, sequence: record?.sequence, reason: reason)))
            }
        }
        return screened
    }

    private func logRejections(
        device: String, _ rejections: [RejectionReason: Int], refusal: IntakeRefusal?, now: RecordTime
    ) {
        let line = rejectionLog.withLock { $0.note(device: device, rejections: rejections, refusal: refusal, now: now) }
        if let line { logger.warning("records rejected", metadata: line) }
    }

    /// Runs the ledger half of the shared `RecordRules` over this store, and turns the verdict into the answer
    /// for the device.
    private func ingest(
        _ genuine: GenuineRecord, keys: DeviceRegistry.Snapshot, now: RecordTime, _ state: State
    ) throws -> RecordResult {
        var ledger = StoredRecords(state: state, keys: keys, now: now)
        switch try RecordRules.admit(genuine, into: &ledger) {
        case .stored(let record, _, let findings):
            for finding in findings { try addFinding(finding, state) }
            try applyToAlerts(record, now: now, state)
            try noteContinuity(record, state)
            return RecordResult(status: .accepted, sequence: record.sequence)
        case .resent(let record):
            return RecordResult(status: .duplicate, sequence: record.sequence)
        case .refused(let record, let finding):
            // Forks and replays are the device's stream misbehaving, kept for audit; the rest is noise from outside.
            if finding.kind == .fork || finding.kind == .replay { try addFinding(finding, state) }
            return RecordResult(status: .rejected, sequence: record?.sequence, reason: finding.rejection ?? .malformed)
        }
    }

    /// Records a chain finding (`fork`, `replay`, `broken-chain`) against the device and sequence number it names.
    private func addFinding(_ finding: VerificationFinding, _ state: State) throws {
        let device: String
        let sequence: Int64
        switch finding {
        case .fork(let name, let number), .replay(let name, let number), .brokenChain(let name, let number):
            (device, sequence) = (name, number)
        default:
            return
        }
        try state.statement("INSERT INTO findings(device, seq, finding) VALUES(?1, ?2, ?3)")
            .bind([.text(device), .integer(sequence), .text(finding.name)]).run()
        logger.warning(
            "chain finding", metadata: ["device": "\(device)", "seq": "\(sequence)", "finding": "\(finding.name)"])
    }

    private func applyToAlerts(_ record: Record, now: RecordTime, _ state: State) throws {
        switch record.body {
        case .emergency(let input), .help(let input), .tamper(_, let input):
            var fixText: SQLiteValue = .null
            if let fix = record.fix, let data = try? JSONEncoder().encode(fix) {
                fixText = .text(String(decoding: data, as: UTF8.self))
            }
            try state.statement(
                """
                INSERT OR IGNORE INTO alerts(device, id, seq, kind, input, pressed_ms, time_source, received_ms, fix, state)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open')
                """
            ).bind([
                .text(record.device), .text(record.id), .integer(record.sequence), .text(record.kind.rawValue),
                .text(input), .integer(record.time.epochMilliseconds), .text(record.timeSource.rawValue),
                .integer(now.epochMilliseconds), fixText,
            ]).run()
        case .cleared(let alert, _):
            try state.statement("UPDATE alerts SET device_cleared = 1 WHERE device = ?1 AND id = ?2")
                .bind([.text(record.device), .text(alert)]).run()
        default:
            break
        }
    }
}

/// The control room's records table as the rules' ledger: the registry's keys, and what is stored per device.
/// Used inside the intake's transaction, under the control room's lock.
struct StoredRecords: RecordLedger {
    let state: ControlRoom.State
    /// The registry the batch was checked against.
    let keys: DeviceRegistry.Snapshot
    /// The arrival time stored with new records.
    let now: RecordTime

    func key(id keyID: String) -> RegisteredKey? { keys.byKeyID[keyID] }

    func entry(device: String, sequence: Int64) throws -> LedgerEntry? {
        let query = try state.statement("SELECT hash, uuid, prev FROM records WHERE device = ?1 AND seq = ?2")
        try query.bind([.text(device), .integer(sequence)])
        defer { query.reset() }
        guard try query.step() else { return nil }
        return LedgerEntry(
            envelopeHash: query.text(0), recordID: query.text(1), previousHash: query.isNull(2) ? nil : query.text(2))
    }

    func containsRecord(device: String, id recordID: String) throws -> Bool {
        let query = try state.statement("SELECT 1 FROM records WHERE device = ?1 AND uuid = ?2")
        try query.bind([.text(device), .text(recordID)])
        defer { query.reset() }
        return try query.step()
    }

    func store(_ record: Record, entry: LedgerEntry, envelope: String) throws {
        try state.statement(
            """
            INSERT INTO records(device, seq, uuid, kind, time_ms, received_ms, hash, prev, envelope)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """
        ).bind([
            .text(record.device), .integer(record.sequence), .text(record.id), .text(record.kind.rawValue),
            .integer(record.time.epochMilliseconds), .integer(now.epochMilliseconds), .text(entry.envelopeHash),
            entry.previousHash.map { .text($0) } ?? .null, .text(envelope),
        ]).run()
    }
}
