import Foundation
import PanicCore
import PanicSQLite

/// What an operator did to an alert, as the audit log records it.
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    case accept, clear, dispatch, note
}

/// One line of the append-only audit log (the table refuses UPDATE and DELETE by trigger).
public struct AuditEntry: Sendable, Hashable, Codable {
    /// Its place in the log, increasing.
    public var id: Int64
    /// When it was written (the control room's wall clock), RFC 3339, and in epoch milliseconds.
    public var time: String
    public var timeMs: Int64
    /// Who did it, and their role at the time.
    public var user: String
    public var role: DeskRole
    public var action: AuditAction
    /// The alert it concerns.
    public var device: String
    public var alert: String
    /// Why (the clear reason, the note's text, the responder and stage of a dispatch).
    public var reason: String
}

extension ControlRoom {
    /// The database file (for audits of the file itself).
    public var databasePath: String { state.withLock { $0.connection.path } }

    /// Appends to the audit log inside the caller's lock (and transaction, when there is one).
    func appendAudit(
        _ action: AuditAction, by account: DeskAccount, device: String, alert: String, reason: String,
        now: RecordTime, _ state: State
    ) throws {
        try state.statement(
            "INSERT INTO audit(time_ms, user, role, action, device, alert, reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ).bind([
            .integer(now.epochMilliseconds), .text(account.name), .text(account.role.rawValue),
            .text(action.rawValue), .text(device), .text(alert), .text(reason),
        ]).run()
    }

    /// Writes a note on an alert.
    public func note(device: String, alert: String, text: String, by account: DeskAccount) throws {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw DeskError.badRequest("a note needs text") }
        let now = wallClock()
        try state.withLock { state in
            try requireAlert(device: device, alert: alert, state)
            try appendAudit(.note, by: account, device: device, alert: alert, reason: text, now: now, state)
        }
    }

    func requireAlert(device: String, alert: String, _ state: State) throws {
        let query = try state.statement("SELECT 1 FROM alerts WHERE device = ?1 AND id = ?2")
        try query.bind([.text(device), .text(alert)])
        defer { query.reset() }
        guard try query.step() else { throw ControlRoomError.unknownAlert(device: device, alert: alert) }
    }

    /// The audit log, oldest first: for one alert, or all of it.
    public func audit(device: String? = nil, alert: String? = nil) throws -> [AuditEntry] {
        try state.withLock { state in try audit(device: device, alert: alert, state) }
    }

    func audit(device: String?, alert: String?, _ state: State) throws -> [AuditEntry] {
        let query = try state.statement(
            """
            SELECT id, time_ms, user, role, action, device, alert, reason FROM audit
            WHERE (?1 IS NULL OR device = ?1) AND (?2 IS NULL OR alert = ?2) ORDER BY id
            """)
        try query.bind([device.map { .text($0) } ?? .null, alert.map { .text($0) } ?? .null])
        var result: [AuditEntry] = []
        while try query.step() {
            let time = RecordTime(epochMilliseconds: query.integer(1))
            result.append(
                AuditEntry(
                    id: query.integer(0), time: time.description, timeMs: time.epochMilliseconds, user: query.text(2),
                    role: DeskRole(rawValue: query.text(3)) ?? .operator,
                    action: AuditAction(rawValue: query.text(4)) ?? .note, device: query.text(5),
                    alert: query.text(6), reason: query.text(7)))
        }
        query.reset()
        return result
    }

    /// The whole audit log as CSV (RFC 4180: fields quoted, quotes doubled), header first.
    public func auditCSV() throws -> String {
        var lines = ["id,time,user,role,action,device,alert,reason"]
        for entry in try audit() {
            let fields = [
                "\(entry.id)", entry.time, entry.user, entry.role.rawValue, entry.action.rawValue, entry.device,
                entry.alert, entry.reason,
            ]
            lines.append(fields.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ text: String) -> String {
        // A leading = + - @ would be run as a formula by spreadsheet programs.
        let safe = text.first.map { "=+-@".contains($0) } == true ? "'" + text : text
        guard safe.contains(where: { ",\"\r\n".contains($0) }) || safe != text else { return safe }
        return "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
