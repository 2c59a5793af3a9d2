import Foundation
import PanicCore

/// What was done, as the audit log records it: an operator's action on an alert, or a security event (device and
/// alert then name what it concerns: an account, a device, a token).
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    case accept, clear, dispatch, note
    /// An unaccepted emergency escalated (a round of notifications claimed; `reason` says which and why).
    case escalate
    /// One channel's delivery of an escalation: `reason` names the channel and says sent, or failed and why.
    case notify = "escalation-notify"
    /// A login, a refused one (wrong name or password), a logout.
    case login
    case loginFailed = "login-failed"
    case logout
    /// A source (or a name at a source) used its login budget: its further attempts are refused for a while.
    case loginThrottled = "login-throttled"
    /// Account administration; `device` holds the account's name.
    case userAdd = "user-add"
    case userRemove = "user-remove"
    case roleChange = "role-change"
    case passwordChange = "passwd"
    /// An API token issued or revoked; `device` holds the account's name, `alert` the token's id.
    case tokenIssue = "token-issue"
    case tokenRevoke = "token-revoke"
    /// Device administration; `device` holds the device's id.
    case deviceAdd = "device-add"
    case deviceRemove = "device-remove"
    case deviceRename = "device-rename"
    case metadataEdit = "metadata"
    /// A configuration document queued for a device (`controlroom config push`); `alert` holds `config-v<version>`.
    case configPush = "config-push"
    /// A software update document queued for a device (`controlroom update push`); `alert` holds
    /// `update-<version>`, `reason` the package's SHA-256 and floor.
    case updatePush = "update-push"
    /// An evidence bundle of the alert was exported (`reason` holds the manifest's SHA-256).
    case evidenceExport = "evidence-export"
    /// The alert's FIR / GD numbers were entered or changed (`reason` holds them as JSON, see `CaseNumbers`).
    case caseNumbers = "case-numbers"
    /// Staged rollouts (docs/configuration.md → *Staged rollouts*); `alert` holds `rollout-<id>`. Created (`reason`:
    /// kind, group, stages, threshold, wait), resumed or aborted by a person: security events, as a push is.
    case rolloutCreate = "rollout-create"
    case rolloutResume = "rollout-resume"
    case rolloutAbort = "rollout-abort"
    /// What the rollout service decided by itself: a stage started, a device failed (`device` holds it, `reason`
    /// why), the rollout paused at the threshold, or finished.
    case rolloutStage = "rollout-stage"
    case rolloutDeviceFailed = "rollout-device-failed"
    case rolloutPause = "rollout-pause"
    case rolloutDone = "rollout-done"

    /// The box acknowledged a command (accept, dispatch, arrive, clear) it acted on; `reason` names the command
    /// (`accept confirmed (nonce …)`). Written by `CommandReceipts`.
    case boxConfirmed = "box-confirmed"
    /// The box reported refusing a command; `reason` says which and why (`accept refused: forged (nonce …)`: its
    /// pinned control-room key is not this one). A security event.
    case boxRefused = "box-refused"

    /// Whether this is a security event (not an action on an alert).
    public var isSecurityEvent: Bool {
        ![
            .accept, .clear, .dispatch, .note, .evidenceExport, .caseNumbers, .escalate, .notify, .rolloutStage,
            .rolloutDeviceFailed, .rolloutPause, .rolloutDone, .boxConfirmed,
        ].contains(self)
    }
}

/// Who did something, for the audit log: a desk account, a name someone tried to log in with (no role), or the
/// `controlroom` command line on the server's host.
public struct AuditActor: Sendable, Hashable {
    public var user: String
    public var role: DeskRole?

    public init(user: String, role: DeskRole?) {
        self.user = user
        self.role = role
    }

    public init(_ account: DeskAccount) { self.init(user: account.name, role: account.role) }

    /// The command line (`controlroom users …`, `controlroom devices …`): whoever can run it on the host owns the
    /// database anyway.
    public static let console = AuditActor(user: "console", role: nil)
}

/// One line of the append-only audit log (the table refuses UPDATE and DELETE by trigger).
public struct AuditEntry: Sendable, Hashable, Codable {
    /// Its place in the log, increasing.
    public var id: Int64
    /// When it was written (the control room's wall clock), RFC 3339, and in epoch milliseconds.
    public var time: String
    public var timeMs: Int64
    /// Who did it, and their role at the time (none for a name someone tried to log in with, or the console).
    public var user: String
    public var role: DeskRole?
    public var action: AuditAction
    /// The alert it concerns.
    public var device: String
    public var alert: String
    /// Why (the clear reason, the note's text, the responder and stage of a dispatch).
    public var reason: String

    public init(
        id: Int64, timeMs: Int64, user: String, role: DeskRole?, action: AuditAction, device: String, alert: String,
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
        changes.publish(ControlRoomChange([.audit]))
    }

    /// Appends a security event to the audit log. Text a client chose (a login name) is escaped first
    /// (`SafeText`), so no control character or NUL reaches the table or a reader's terminal.
    public func auditSecurity(
        _ action: AuditAction, by actor: AuditActor, subject: String = "", item: String = "", detail: String = ""
    ) async throws {
        try await store.appendAudit(
            NewAuditEntry(
                action: action, actor: AuditActor(user: SafeText.escaped(actor.user), role: actor.role),
                device: SafeText.escaped(subject), alert: SafeText.escaped(item), reason: SafeText.escaped(detail),
                now: wallClock()),
            requireAlert: false)
    }

    /// The audit log, oldest first: for one alert, or all of it.
    public func audit(device: String? = nil, alert: String? = nil) async throws -> [AuditEntry] {
        try await store.audit(device: device, alert: alert)
    }

    /// One page of the audit log, oldest first (`AuditQuery`, `Paging`).
    public func audit(_ query: AuditQuery) async throws -> AuditPage { try await store.audit(query) }

    /// The whole audit log as CSV (RFC 4180: fields quoted, quotes doubled), header first, read a page at a time:
    /// `write` gets the header line, then each page's lines, so a log of millions of lines is never in memory whole.
    public func auditCSV(
        pageSize: Int = Paging.maximumLimit, write: (String) async throws -> Void
    ) async throws {
        try await write("id,time,user,role,action,device,alert,reason\r\n")
        var after: Int64?
        repeat {
            let page = try await audit(AuditQuery(after: after, limit: pageSize))
            if !page.entries.isEmpty { try await write(page.entries.map(Self.csvLine).joined()) }
            after = page.next
        } while after != nil
    }

    /// The whole audit log as CSV in one string (`auditCSV(pageSize:write:)`).
    public func auditCSV() async throws -> String {
        var text = ""
        try await auditCSV { text += $0 }
        return text
    }

    static func csvLine(_ entry: AuditEntry) -> String {
        let fields = [
            "\(entry.id)", entry.time, entry.user, entry.role?.rawValue ?? "", entry.action.rawValue, entry.device,
            entry.alert, entry.reason,
        ]
        return fields.map(Self.csvField).joined(separator: ",") + "\r\n"
    }

    static func csvField(_ text: String) -> String {
        // A leading = + - @ would be run as a formula by spreadsheet programs.
        let safe = text.first.map { "=+-@".contains($0) } == true ? "'" + text : text
        guard safe.contains(where: { ",\"\r\n".contains($0) }) || safe != text else { return safe }
        return "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
