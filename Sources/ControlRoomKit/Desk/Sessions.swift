import PanicCore
import Synchronization

/// Login throttling as a pure policy: failures per key (a user name, a client address) within a window; once
/// `limit` failures fall inside it, that key is refused until the window after the last failure has passed.
/// Time is passed in, so it is tested without waiting.
public struct LoginThrottle: Sendable {
    /// Failures allowed inside `window` before the key is locked.
    public var limit: Int
    /// How far back failures count, and how long a lock lasts after the last one.
    public var window: Duration
    private var failures: [String: [MonotonicInstant]] = [:]

    public init(limit: Int = 5, window: Duration = .seconds(300)) {
        self.limit = limit
        self.window = window
    }

    /// How long `key` must still wait, or nil when it may try now.
    public mutating func wait(key: String, now: MonotonicInstant) -> Duration? {
        let recent = (failures[key] ?? []).filter { $0.duration(to: now) < window }
        failures[key] = recent.isEmpty ? nil : recent
        guard recent.count >= limit, let last = recent.last else { return nil }
        return window - last.duration(to: now)
    }

    /// Notes a failed attempt for `key`.
    public mutating func fail(key: String, now: MonotonicInstant) {
        failures[key, default: []].append(now)
        if failures.count > 10_000 {
            failures = failures.filter { $0.value.last.map { $0.duration(to: now) < window } ?? false }
        }
    }

    /// Forgets `key`'s failures after a successful login.
    public mutating func succeed(key: String) { failures[key] = nil }
}

/// A logged-in operator: the account, the CSRF token the page must send back, and when it was last used.
public struct DeskSession: Sendable, Hashable {
    /// Who is logged in.
    public var account: DeskAccount
    /// The token every state-changing request must carry in `X-CSRF-Token`.
    public var csrf: String
    /// When the session started and was last used (monotonic).
    public var started: MonotonicInstant
    public var lastUsed: MonotonicInstant
}

/// Sessions in memory, keyed by their secret id (the cookie's value). A restart of the control room logs every
/// operator out; they log in again. Sessions end after `idle` without use or `lifetime` after login.
public final class DeskSessions: Sendable {
    private let sessions = Mutex<[String: DeskSession]>([:])
    private let clock: any MonotonicClock
    /// Longest time without a request before the session ends.
    public let idle: Duration
    /// Longest time a session lasts (a shift and a half).
    public let lifetime: Duration

    public init(
        clock: any MonotonicClock, idle: Duration = .seconds(4 * 3600), lifetime: Duration = .seconds(16 * 3600)
    ) {
        self.clock = clock
        self.idle = idle
        self.lifetime = lifetime
    }

    /// Starts a session for `account`; returns its id (the cookie value) and the session.
    public func start(_ account: DeskAccount) -> (id: String, session: DeskSession) {
        let now = clock.now
        let id = DeskPasswords.secret()
        let session = DeskSession(
            account: account, csrf: DeskPasswords.secret(), started: now, lastUsed: now)
        sessions.withLock { sessions in
            sessions = sessions.filter { alive($0.value, now: now) }
            sessions[id] = session
        }
        return (id, session)
    }

    /// The live session with this id (marking it used), or nil.
    public func session(id: String) -> DeskSession? {
        let now = clock.now
        return sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            guard alive(session, now: now) else {
                sessions[id] = nil
                return nil
            }
            session.lastUsed = now
            sessions[id] = session
            return session
        }
    }

    /// Ends a session (logout).
    public func end(id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// Ends every session of an account (after its removal or a password change).
    public func end(user: String) { sessions.withLock { $0 = $0.filter { $0.value.account.name != user } } }

    private func alive(_ session: DeskSession, now: MonotonicInstant) -> Bool {
        session.lastUsed.duration(to: now) < idle && session.started.duration(to: now) < lifetime
    }
}
