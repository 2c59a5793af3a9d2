import PanicCore
import PanicSQLite

/// Where a fallback text message for one alert and one number stands.
public enum SMSState: String, Sendable, CaseIterable {
    /// Recorded just before the text is handed to the modem (`AT+CMGS`). Found after a power cut, it means the
    /// message may or may not have gone out: it is not sent again (at most once; docs/outbox.md → SMS).
    case attempting
    /// The modem confirmed it (`+CMGS:`).
    case sent
    /// The modem refused it before taking the text (`ERROR` at `AT`/`AT+CMGF`/`AT+CMGS`, no answer, port gone), or
    /// the network refused the text it took (`+CMS ERROR`): it was certainly not sent, and is tried again.
    case failed
}

/// The SMS fallback's record: which alert went to which number, kept beside the records so it survives power cuts.
extension Outbox {
    /// The state of the message for `alert` (its sequence number) to `number`, or nil when none was tried.
    public func smsState(alert: Int64, number: String) throws -> SMSState? {
        try state.withLock { state in
            let query = try state.statement("SELECT state FROM sms WHERE alert_seq = ?1 AND number = ?2")
            try query.bind([.integer(alert), .text(number)])
            defer { query.reset() }
            return try query.step() ? SMSState(rawValue: query.text(0)) : nil
        }
    }

    /// Records the message for `alert` to `number` as `smsState` (committed, fsynced, before this returns).
    public func recordSMS(
        _ smsState: SMSState, alert: Int64, number: String, at time: RecordTime, reference: Int? = nil,
        detail: String? = nil
    ) throws {
        try state.withLock { state in
            try Outbox.restoreDurability(state)
            try state.statement(
                """
                INSERT INTO sms(alert_seq, number, state, updated_ms, reference, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT(alert_seq, number) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms,
                    reference = excluded.reference, detail = excluded.detail
                """
            ).bind([
                .integer(alert), .text(number), .text(smsState.rawValue), .integer(time.epochMilliseconds),
                reference.map { .integer(Int64($0)) } ?? .null, detail.map { .text(String($0.prefix(200))) } ?? .null,
            ]).run()
        }
    }

    /// Every message recorded, by alert and number: (alert sequence, number, state).
    public func smsMessages() throws -> [(alert: Int64, number: String, state: SMSState)] {
        try state.withLock { state in
            let query = try state.statement("SELECT alert_seq, number, state FROM sms ORDER BY alert_seq, number")
            defer { query.reset() }
            var rows: [(alert: Int64, number: String, state: SMSState)] = []
            while try query.step() {
                rows.append((query.integer(0), query.text(1), SMSState(rawValue: query.text(2)) ?? .attempting))
            }
            return rows
        }
    }

    /// Alerts (emergency, help, tamper) made at or before `cutoff` that no backend has acknowledged, oldest first.
    public func alertsUnacknowledged(madeAtOrBefore cutoff: RecordTime) throws -> [StoredRecord] {
        try state.withLock { state in
            let query = try state.statement(
                """
                SELECT seq, kind, created_ms, envelope FROM records
                WHERE kind IN ('emergency', 'help', 'tamper') AND delivered_count = 0 AND created_ms <= ?1
                ORDER BY seq
                """)
            try query.bind([.integer(cutoff.epochMilliseconds)])
            defer { query.reset() }
            var alerts: [StoredRecord] = []
            while try query.step() {
                alerts.append(
                    StoredRecord(
                        sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .emergency,
                        time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
            }
            return alerts
        }
    }

    /// Alerts (emergency, help, tamper) made at or before `cutoff` that none of `authorities` (the backends whose
    /// acknowledgement means the police have the alert) has acknowledged, oldest first; a tracking server's
    /// acknowledgement does not count. No authorities: every alert made by then.
    public func alertsUnacknowledged(
        madeAtOrBefore cutoff: RecordTime, byAnyOf authorities: [String]
    ) throws -> [StoredRecord] {
        try state.withLock { state in
            let names = authorities.indices.map { "?\($0 + 2)" }.joined(separator: ", ")
            let query = try state.statement(
                """
                SELECT seq, kind, created_ms, envelope FROM records r
                WHERE kind IN ('emergency', 'help', 'tamper') AND created_ms <= ?1 AND NOT EXISTS (
                    SELECT 1 FROM delivery d WHERE d.seq = r.seq AND d.state = 'delivered' AND d.backend IN (\(names)))
                ORDER BY seq
                """)
            try query.bind([.integer(cutoff.epochMilliseconds)] + authorities.map { .text($0) })
            defer { query.reset() }
            var alerts: [StoredRecord] = []
            while try query.step() {
                alerts.append(
                    StoredRecord(
                        sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .emergency,
                        time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
            }
            return alerts
        }
    }

    /// Clear records made after the record `sequence`, oldest first: the SMS fallback stops retrying a text for an
    /// alert one of them clears. A range scan of the primary key from `sequence`.
    public func clears(after sequence: Int64) throws -> [StoredRecord] {
        try state.withLock { state in
            let query = try state.statement(
                "SELECT seq, kind, created_ms, envelope FROM records WHERE seq > ?1 AND kind = 'cleared' ORDER BY seq")
            try query.bind([.integer(sequence)])
            defer { query.reset() }
            var clears: [StoredRecord] = []
            while try query.step() {
                clears.append(
                    StoredRecord(
                        sequence: query.integer(0), kind: .cleared,
                        time: RecordTime(epochMilliseconds: query.integer(2)), envelope: query.text(3)))
            }
            return clears
        }
    }
}
