import Foundation
import PanicCore

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

    public init(
        id: Int64, timeMs: Int64, user: String, role: DeskRole, action: AuditAction, device: String, alert: String,
        reason: String
    ) {
        self.id = id
        self.time = RecordTime(epochMilliseconds: timeMs).description
        self.timeMs = timeMs
        self.user = user
        self.role = role
        self.action = action
        self.device = device
        self.alert = alert
        self.reason = reason
    }
}

extension ControlRoom {
    /// What the store is (the SQLite file, or the PostgreSQL URL without its password).
    public var databasePath: String { store.description }

    /// Writes a note on an alert.
    public func note(device: String, alert: String, text: String, by account: DeskAccount) async throws {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw DeskError.badRequest("a note needs text") }
        try await store.appendAudit(
            NewAuditEntry(
                action: .note, account: account, device: device, alert: alert, reason: text, now: wallClock()),
            requireAlert: true)
    }

    /// The audit log, oldest first: for one alert, or all of it.
    public func audit(device: String? = nil, alert: String? = nil) async throws -> [AuditEntry] {
        try await store.audit(device: device, alert: alert)
    }

    /// The whole audit log as CSV (RFC 4180: fields quoted, quotes doubled), header first.
    public func auditCSV() async throws -> String {
        var lines = ["id,time,user,role,action,device,alert,reason"]
        for entry in try await audit() {
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
