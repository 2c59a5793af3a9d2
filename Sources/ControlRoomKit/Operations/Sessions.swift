import PanicCore
import Synchronization

/// A logged-in operator: the account, the CSRF token the page must send back, and when it was last used.
public struct DeskSession: Sendable, Hashable {
    /// Who is logged in.
    public var account: DeskAccount
    /// The token every state-changing request must carry in `X-CSRF-Token`.
    public var csrf: String
    /// When the session started and was last used (wall clock, epoch ms: instances share them).
    public var startedMs: Int64
    public var lastUsedMs: Int64
}

/// A session as the store keeps it: the SHA-256 of the cookie's secret, never the secret.
public struct StoredSession: Sendable, Hashable {
    public var idHash: String
    public var user: String
    public var csrf: String
    public var startedMs: Int64
    public var lastUsedMs: Int64

    public init(idHash: String, user: String, csrf: String, startedMs: Int64, lastUsedMs: Int64) {
        self.idHash = idHash
        self.user = user
        self.csrf = csrf
        self.startedMs = startedMs
        self.lastUsedMs = lastUsedMs
    }
}

/// Sessions in the control room's database, keyed by the hash of their secret id (the cookie's value): every
/// instance on the same PostgreSQL knows every session, a restart logs nobody out, and removing an account or
/// changing its password ends its sessions everywhere. Sessions end after `idle` without use or `lifetime` after
/// login; the last use is written at most once a minute (not a write per request).
public final class DeskSessions: Sendable {
    private let store: any DeskStore
    private let wallClock: @Sendable () -> RecordTime
    /// Longest time without a request before the session ends.
    public let idle: Duration
    /// Longest time a session lasts (a shift and a half).
    public let lifetime: Duration
    /// How stale the recorded last use may get before a request writes it again.
    public static let touchAfterMs: Int64 = 60_000
    /// The cookie that carries a session's id (the desk sets it at login; `/metrics` reads it too).
    public static let cookieName = "pb_session"

    public init(
        store: any DeskStore, wallClock: @escaping @Sendable () -> RecordTime,
        idle: Duration = .seconds(4 * 3600), lifetime: Duration = .seconds(16 * 3600)
    ) {
        self.store = store
        self.wallClock = wallClock
        self.idle = idle
        self.lifetime = lifetime
    }

    /// Starts a session for `account`; returns its id (the cookie value) and the session.
    public func start(_ account: DeskAccount) async throws -> (id: String, session: DeskSession) {
        let now = wallClock().epochMilliseconds
        let id = DeskPasswords.secret()
        let session = DeskSession(account: account, csrf: DeskPasswords.secret(), startedMs: now, lastUsedMs: now)
        try await store.startSession(
            StoredSession(
                idHash: DeskPasswords.tokenHash(id), user: account.name, csrf: session.csrf, startedMs: now,
                lastUsedMs: now))
        return (id, session)
    }

    /// The live session with this id (marking it used), or nil. The account is as it is now (a role change
    /// counts at once); nil when it was removed.
    public func session(id: String) async throws -> DeskSession? {
        let now = wallClock().epochMilliseconds
        guard
            let stored = try await store.session(
                idHash: DeskPasswords.tokenHash(id), now: now, idle: idle.milliseconds, lifetime: lifetime.milliseconds,
                touchAfter: Self.touchAfterMs)
        else { return nil }
        guard let account = try await store.account(name: stored.user) else {
            try await store.endSession(idHash: stored.idHash)
            return nil
        }
        return DeskSession(account: account, csrf: stored.csrf, startedMs: stored.startedMs, lastUsedMs: now)
    }

    /// Ends a session (logout).
    public func end(id: String) async throws { try await store.endSession(idHash: DeskPasswords.tokenHash(id)) }

    /// Ends every session of an account.
    public func end(user: String) async throws { try await store.endSessions(user: user) }
}
